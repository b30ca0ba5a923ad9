import type { Logger } from 'pino';
import type { AuditRepository } from '../../db/repositories/audit.js';

export interface AdminAction {
  action: string;
  target?: string;
  details?: Record<string, unknown>;
  outcome: 'done' | 'refused' | 'failed';
  message?: string;
}

/**
 * Job actions taken in Telegram go to the same audit trail as the dashboard's, under the admin's
 * Telegram id. A failed write is logged and never fails the action itself.
 */
export async function auditAdminAction(
  target: { audit: AuditRepository; logger: Logger; now: Date },
  adminId: number | undefined,
  action: AdminAction,
): Promise<void> {
  try {
    await target.audit.record({
      at: target.now,
      actor: `telegram:${adminId ?? 'unknown'}`,
      credential: 'ADMIN_IDS',
      ...action,
    });
  } catch (error) {
    target.logger.error({ err: error, action: action.action }, 'could not write the audit entry');
  }
}
