import { createRequire } from 'node:module';
import { type Canvas, createCanvas, GlobalFonts } from '@napi-rs/canvas';
import { BasicPlatform, Chart, type ChartConfiguration, registerables } from 'chart.js';
import type { DailyStats } from '../../db/repositories/stats.js';

/** The digest image: 1200×800 PNG, a header and three stacked panels. */
export const CHART_WIDTH = 1200;
export const CHART_HEIGHT = 800;
const HEADER_HEIGHT = 64;
const FONT_FAMILY = 'DejaVu Sans';

let ready = false;

/**
 * Chart.js draws text with whatever font the canvas knows: the DejaVu fonts come from their npm
 * package (never the system's), so the image looks the same on every machine.
 */
function prepare(): void {
  if (ready) return;
  const require = createRequire(import.meta.url);
  for (const file of ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf']) {
    GlobalFonts.registerFromPath(require.resolve(`dejavu-fonts-ttf/ttf/${file}`), FONT_FAMILY);
  }
  Chart.register(...registerables);
  Chart.defaults.font.family = FONT_FAMILY;
  Chart.defaults.font.size = 14;
  Chart.defaults.color = '#222222';
  ready = true;
}

interface Series {
  label: string;
  color: string;
  values: number[];
}

interface Panel {
  title: string;
  yTitle: string;
  kind: 'bar' | 'line';
  series: Series[];
}

/** The three panels of the digest, from the period's days. */
export function digestPanels(days: readonly DailyStats[]): Panel[] {
  const pick = (field: keyof DailyStats['counts']) => days.map((day) => day.counts[field]);
  return [
    {
      title: 'Users per day',
      yTitle: 'users',
      kind: 'bar',
      series: [
        { label: 'New', color: '#2e7d32', values: pick('users_new') },
        { label: 'Blocked the bot', color: '#c62828', values: pick('users_blocked') },
      ],
    },
    {
      title: 'Verification links per day',
      yTitle: 'links',
      kind: 'line',
      series: [
        { label: 'Issued', color: '#1565c0', values: pick('links_issued') },
        { label: 'Verified', color: '#ef6c00', values: pick('links_verified') },
      ],
    },
    {
      title: 'Content messages deleted per day',
      yTitle: 'messages',
      kind: 'line',
      series: [
        { label: 'Deleted', color: '#6a1b9a', values: pick('messages_deleted') },
        { label: 'Failed', color: '#d81b60', values: pick('deletions_failed') },
      ],
    },
  ];
}

/** `2026-03-09` → `9 Mar`: short, unambiguous axis labels. */
function shortDay(day: string): string {
  const [year, month, date] = day.split('-').map(Number) as [number, number, number];
  return new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' }).format(
    new Date(Date.UTC(year, month - 1, date)),
  );
}

/** Draws one panel on its own canvas and hands it to `paste` (destroying a chart clears its canvas). */
function renderPanel(
  panel: Panel,
  labels: string[],
  width: number,
  height: number,
  paste: (image: Canvas) => void,
): void {
  const canvas = createCanvas(width, height);
  const context = canvas.getContext('2d');
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, width, height);
  const config: ChartConfiguration<'bar' | 'line'> = {
    type: panel.kind,
    data: {
      labels,
      datasets: panel.series.map((series) => ({
        label: series.label,
        data: series.values,
        borderColor: series.color,
        backgroundColor: series.color,
        borderWidth: panel.kind === 'line' ? 2.5 : 0,
        pointRadius: panel.kind === 'line' ? 2.5 : 0,
      })),
    },
    options: {
      responsive: false,
      animation: false,
      devicePixelRatio: 1,
      layout: { padding: { left: 12, right: 20, top: 4, bottom: 4 } },
      plugins: {
        title: {
          display: true,
          text: panel.title,
          font: { size: 17, weight: 'bold' },
          padding: { bottom: 4 },
        },
        legend: {
          display: true,
          position: 'top',
          align: 'end',
          labels: { boxWidth: 16, font: { size: 14 } },
        },
      },
      scales: {
        x: {
          offset: true,
          ticks: { autoSkip: true, maxRotation: 0, font: { size: 12 } },
          grid: { display: false },
        },
        y: {
          beginAtZero: true,
          title: { display: true, text: panel.yTitle, font: { size: 13 } },
          ticks: { precision: 0, font: { size: 12 } },
          // The same width in every panel, so the three plots line up day by day.
          afterFit: (axis) => {
            axis.width = 84;
          },
        },
      },
    },
  };
  // Chart.js accepts any object with a 2D context; the Node canvas has no DOM, hence BasicPlatform.
  const item = context as unknown as ConstructorParameters<typeof Chart>[0];
  const chart = new Chart(item, { ...config, platform: BasicPlatform });
  try {
    paste(canvas);
  } finally {
    chart.destroy();
  }
}

/** The digest chart of `days` (oldest first) as a PNG: title, then users, links, deletions. */
export function renderDigestChart(days: readonly DailyStats[], title: string): Buffer {
  prepare();
  const canvas = createCanvas(CHART_WIDTH, CHART_HEIGHT);
  const context = canvas.getContext('2d');
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, CHART_WIDTH, CHART_HEIGHT);
  context.fillStyle = '#111111';
  context.font = `bold 24px "${FONT_FAMILY}"`;
  context.textBaseline = 'middle';
  context.fillText(title, 20, HEADER_HEIGHT / 2);

  const labels = days.map((day) => shortDay(day.day));
  const panelHeight = Math.floor((CHART_HEIGHT - HEADER_HEIGHT) / 3);
  digestPanels(days).forEach((panel, index) => {
    renderPanel(panel, labels, CHART_WIDTH, panelHeight, (image) =>
      context.drawImage(image, 0, HEADER_HEIGHT + index * panelHeight),
    );
  });
  return canvas.toBuffer('image/png');
}
