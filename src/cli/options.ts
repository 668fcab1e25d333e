import type { CliOption } from './command.ts';

/** Options several commands share, described once. */
export const orgOption: CliOption = { type: 'string', valueName: 'ID', description: 'the organization (its id, from `casebridge org list`)' };
export const jsonOption: CliOption = { type: 'boolean', description: 'print the result as JSON' };
export const linkHoursOption: CliOption = {
  type: 'string',
  valueName: 'H',
  description: 'hours until the sign-in link expires, 1-720 (default SIGN_IN_LINK_TTL_HOURS)',
};
export const transfersOrgOption: CliOption = { type: 'string', valueName: 'ID', description: 'only this organization (default: every organization)' };
