import type { WriteCheck, WriteVerdict } from '../../src/transfers/resolution.ts';
import { openImanage } from './client.ts';
import type { ImanageSettings } from './manifest.ts';

/**
 * "Did this upload take effect?" for iManage, asked about a call whose answer never came. Every
 * upload carries its item key in a profile field, so a create is one search away: a document with
 * the key exists → it took effect (and the next run adopts it instead of uploading again). Versions
 * and profile updates leave no evidence that tells this attempt from another: `unverifiable`; so is
 * a connection whose tokens were shredded.
 */
export function createImanageWriteCheck(): WriteCheck {
  return async ({ services, intent, tokens }): Promise<WriteVerdict> => {
    if (intent.operation !== 'create' || !intent.itemKey || !intent.connectionId) return 'unverifiable';
    if (!tokens || !(await tokens.stored())) return 'unverifiable';
    const row = await services.db.selectFrom('connections').select('settings').where('id', '=', intent.connectionId).executeTakeFirst();
    if (!row) return 'unverifiable';
    const settings = row.settings as unknown as ImanageSettings;
    const accessToken = await tokens.accessToken();
    const api = openImanage({ config: services.config, settings: row.settings, accessToken });
    const found = await api.searchDocuments({ [settings.keyField ?? 'custom16']: intent.itemKey });
    return found.data?.length ? 'took_effect' : 'did_not_take_effect';
  };
}
