import { SamlStatusError } from '@node-saml/node-saml';
import { SignInError } from '../sign-in-error.ts';
import type { PrecheckResult } from './response-checks.ts';

/**
 * Maps node-saml's validation errors (plain Errors with messages) to stable sign-in codes. The
 * raw-document facts from the precheck only choose the wording of a refusal node-saml already made;
 * they never turn a refusal into an acceptance.
 */
export function classifyNodeSamlError(err: unknown, context: { precheck: PrecheckResult; skewMs: number; organizationId: string }): SignInError {
  const message = err instanceof Error ? err.message : String(err);
  const opts = (status: 400 | 401 = 401) => ({ status, organizationId: context.organizationId, details: { message: message.slice(0, 300) } });
  if (err instanceof SamlStatusError) return new SignInError('saml_idp_error', 'the identity provider reported an error instead of a login', opts());
  if (/InResponseTo/i.test(message)) {
    return new SignInError('saml_in_response_to_invalid', 'the response answers a sign-in request this service never issued or already used', opts());
  }
  if (/not yet valid/i.test(message)) return new SignInError('saml_assertion_not_yet_valid', 'the assertion is not valid yet', opts());
  if (/expired/i.test(message)) return new SignInError('saml_assertion_expired', 'the assertion has expired', opts());
  if (/No valid subject confirmation/i.test(message)) {
    const now = Date.now();
    const { notBefore, notOnOrAfter } = context.precheck.times;
    if (notBefore.some((t) => Date.parse(t) > now + context.skewMs)) {
      return new SignInError('saml_assertion_not_yet_valid', 'the assertion is not valid yet', opts());
    }
    if (notOnOrAfter.some((t) => Date.parse(t) <= now - context.skewMs)) {
      return new SignInError('saml_assertion_expired', 'the assertion has expired', opts());
    }
    return new SignInError('saml_subject_confirmation_invalid', 'the assertion has no valid bearer subject confirmation', opts());
  }
  if (/audience/i.test(message)) return new SignInError('saml_audience_mismatch', 'the assertion was issued for another service provider (audience)', opts());
  if (/signature|referenced node|ID cannot refer|multiple assertions|too many/i.test(message)) {
    if (!context.precheck.responseHasSignature) {
      return new SignInError('saml_response_unsigned', 'the SAML response is not signed (responses and assertions must both be signed)', opts());
    }
    if (!context.precheck.assertionHasSignature) {
      return new SignInError('saml_assertion_unsigned', 'the SAML assertion is not signed (responses and assertions must both be signed)', opts());
    }
    return new SignInError('saml_signature_invalid', "the SAML signature does not verify against the identity provider's certificates", opts());
  }
  if (/Missing SAML assertion/i.test(message)) return new SignInError('saml_assertion_missing', 'the response carries no assertion', opts());
  if (/not a valid XML|XML|parse/i.test(message)) return new SignInError('saml_response_malformed', 'the SAML response could not be read', opts(400));
  return new SignInError('saml_response_invalid', 'the SAML response failed validation', opts());
}
