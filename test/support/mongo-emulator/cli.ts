import { startMongoEmulator } from './index.js';

/*
 * npm run db:emulator -- --port 27999 [--host 127.0.0.1] [--replset rs0]
 *   [--ttl-monitor-sleep-secs 60] [--cursor-timeout-millis 600000]
 * Prints the connection URI alone on the first stdout line (with ?replicaSet= in replica-set
 * mode), then serves until SIGINT/SIGTERM.
 */

const USAGE =
  'usage: db:emulator --port <0-65535> [--host <address>] [--replset <name>] [--ttl-monitor-sleep-secs <n>] [--cursor-timeout-millis <n>]';

interface CliOptions {
  port: number;
  host: string;
  replSet?: string;
  ttlSweepIntervalMs?: number;
  cursorTimeoutMs?: number;
}

function positiveNumber(flag: string, value: string | undefined): number {
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) {
    throw new Error(`invalid ${flag} '${value ?? ''}': expected a positive number`);
  }
  return Number(value);
}

function parseArguments(args: string[]): CliOptions {
  const options: CliOptions = { port: 27017, host: '127.0.0.1' };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = inline ?? args[i + 1];
    if (inline === undefined) i += 1;
    switch (flag) {
      case '--port': {
        if (value === undefined || !/^\d+$/.test(value) || Number(value) > 65535) {
          throw new Error(`invalid --port '${value ?? ''}': expected an integer from 0 to 65535`);
        }
        options.port = Number(value);
        break;
      }
      case '--host':
        if (value === undefined || value === '' || value.startsWith('--')) {
          throw new Error('invalid --host: expected an address');
        }
        options.host = value;
        break;
      case '--replset':
        if (value === undefined || value === '' || value.startsWith('--') || /[/\s]/.test(value)) {
          throw new Error('invalid --replset: expected a replica set name');
        }
        options.replSet = value;
        break;
      case '--ttl-monitor-sleep-secs':
        options.ttlSweepIntervalMs = positiveNumber(flag, value) * 1000;
        break;
      case '--cursor-timeout-millis':
        options.cursorTimeoutMs = positiveNumber(flag, value);
        break;
      default:
        throw new Error(`unknown argument '${arg}'. ${USAGE}`);
    }
  }
  return options;
}

async function main(): Promise<void> {
  let options: CliOptions;
  try {
    options = parseArguments(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`mongo-emulator: ${(error as Error).message}\n`);
    process.exit(1);
  }
  let emulator: Awaited<ReturnType<typeof startMongoEmulator>>;
  try {
    emulator = await startMongoEmulator(options);
  } catch (error) {
    process.stderr.write(
      `mongo-emulator: cannot listen on ${options.host}:${options.port}: ${(error as Error).message}\n`,
    );
    process.exit(1);
  }
  process.stdout.write(`${emulator.uri}\n`);

  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

await main();
