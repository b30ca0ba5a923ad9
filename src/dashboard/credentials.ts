import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type Role = 'admin' | 'viewer';

export interface Credential {
  role: Role;
  /** Names the token without revealing it: `DASHBOARD_TOKEN#1a2b3c4d`. */
  label: string;
}

/**
 * The two dashboard tokens. A presented value is compared with both, always, through SHA-256
 * digests of equal length, so neither the answer's timing nor its length says how close a guess
 * came or which token exists.
 */
export class Credentials {
  private readonly entries: { role: Role; digest: Buffer; label: string }[];
  /** Signs the CSRF secret cookie; derived from the admin token, so every replica agrees. */
  readonly cookieSecret: string;

  constructor(adminToken: string, readonlyToken?: string) {
    this.entries = [
      { role: 'admin', digest: sha256(adminToken), label: `DASHBOARD_TOKEN#${fingerprint(adminToken)}` },
    ];
    if (readonlyToken !== undefined) {
      this.entries.push({
        role: 'viewer',
        digest: sha256(readonlyToken),
        label: `DASHBOARD_READONLY_TOKEN#${fingerprint(readonlyToken)}`,
      });
    }
    this.cookieSecret = createHmac('sha256', adminToken).update('dashboard cookie signing').digest('hex');
  }

  match(presented: string): Credential | undefined {
    const digest = sha256(presented);
    let found: Credential | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(digest, entry.digest) && found === undefined) {
        found = { role: entry.role, label: entry.label };
      }
    }
    return found;
  }

  /** Whether a session opened with `label` still has a token behind it (tokens get rotated). */
  isCurrent(label: string): boolean {
    return this.entries.some((entry) => entry.label === label);
  }
}

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Eight hex digits of the token's SHA-256: tells two tokens apart in the audit trail. */
function fingerprint(token: string): string {
  return sha256(token).toString('hex').slice(0, 8);
}
