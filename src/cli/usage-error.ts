/**
 * A usage mistake (a missing or invalid option, an unknown organization): the CLI prints the
 * message with the command's usage and exits 2. Its own module so the CLI's entry can recognise it
 * without importing the database.
 */
export class UsageError extends Error {
  readonly code = 'usage';
}
