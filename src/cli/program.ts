import { Command, Option } from 'commander';
import type { CliCommand, CliCommandGroup } from './command.ts';
import { EXIT_CODES_HELP } from './exit-codes.ts';

/** What a parsed command line asks for: a command with its option values and positionals. */
export interface ParsedRun {
  command: CliCommand;
  args: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** The command tree's inputs: every group, and the commands of the groups loaded for this run. */
export interface ProgramParams {
  version: string;
  groups: CliCommandGroup[];
  /** Commands of the loaded groups; the other groups appear by words and summary only. */
  loaded: CliCommand[];
  /** `--json` was given: parse errors are written as `{ "error": { code, message } }`. */
  json: boolean;
  onRun(run: ParsedRun): Promise<void>;
  onCompletion(shell: 'bash' | 'zsh'): Promise<void>;
}

const JSON_OPTION = 'print the result as JSON on stdout (errors as {"error":{code,message}} on stderr)';

const EXAMPLES = [
  'Examples:',
  '  casebridge org create --name "Meyer & Ruiz LLP" --admin-email ana@meyer-ruiz.example',
  '  casebridge org list --json',
  '  casebridge org create --help',
  '  casebridge completion bash > ~/.local/share/bash-completion/completions/casebridge',
].join('\n');

/**
 * The commander program for one run: every group as a command with its summary (so help lists
 * them all), and the loaded groups' commands with their options, arguments and actions. Errors do
 * not exit the process: commander throws, and the caller turns that into an exit code.
 */
export function buildProgram(params: ProgramParams): Command {
  const program = new Command('casebridge')
    .description("Casebridge: consent-gated, transfer-logged sync of legal case data. The operator's command line.")
    .version(params.version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for the command')
    .helpCommand('help [command...]', 'show help for a command')
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(params.json ? `${JSON.stringify({ error: { code: 'usage', message: s.replace(/^error: /, '').trim() } })}\n` : s),
    })
    .addHelpText('after', `\n${EXAMPLES}\n\n${EXIT_CODES_HELP}\n\nConfiguration comes from the environment (DATABASE_URL, REDIS_URL, …): see the README.`);

  const nodes = new Map<string, Command>([['', program]]);
  const nodeFor = (words: string[], summary: string): Command => {
    const key = words.join(' ');
    const existing = nodes.get(key);
    if (existing) return existing;
    const parent = nodeFor(words.slice(0, -1), '');
    const node = parent.command(words.at(-1)!).description(summary);
    nodes.set(key, node);
    return node;
  };

  const loadedByGroup = new Map<string, CliCommand[]>();
  for (const c of params.loaded) {
    const group = params.groups.filter((g) => g.words.every((w, i) => c.words[i] === w)).sort((a, b) => b.words.length - a.words.length)[0];
    const key = group ? group.words.join(' ') : '';
    loadedByGroup.set(key, [...(loadedByGroup.get(key) ?? []), c]);
  }
  for (const group of params.groups) {
    nodeFor(group.words, group.summary);
    for (const c of loadedByGroup.get(group.words.join(' ')) ?? []) addCommand(nodeFor(c.words, c.summary), c, params);
  }

  program
    .command('completion')
    .description('Print the shell completion script for bash or zsh')
    .argument('<shell>', 'bash or zsh')
    .addHelpText(
      'after',
      `\nbash:  casebridge completion bash > ~/.local/share/bash-completion/completions/casebridge\nzsh:   casebridge completion zsh > "\${fpath[1]}/_casebridge"   (or: eval "$(casebridge completion zsh)")`,
    )
    .action(async (shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh')
        program.error(`completion: unknown shell '${shell}' (bash or zsh)`, { code: 'commander.invalidArgument', exitCode: 2 });
      else await params.onCompletion(shell);
    });
  return program;
}

/** Gives a command node its options, arguments, usage and action. */
function addCommand(node: Command, command: CliCommand, params: ProgramParams): void {
  node.description(command.summary);
  if (command.usage) node.usage(command.usage);
  const options: Array<[string, Option]> = [];
  for (const [name, spec] of Object.entries(command.options ?? {})) {
    if (name === 'json') continue;
    const flags = `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.type === 'string' ? ` <${spec.valueName ?? 'VALUE'}>` : ''}`;
    const option = new Option(flags, spec.description ?? '');
    if (spec.multiple) option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    node.addOption(option);
    options.push([name, option]);
  }
  const json = new Option('--json', JSON_OPTION);
  node.addOption(json);
  options.push(['json', json]);
  for (const a of command.arguments ?? []) node.argument(a.required ? `<${a.name}>` : `[${a.name}]`, a.description);

  node.action(async (...received: unknown[]) => {
    const self = received.at(-1) as Command;
    const values = self.opts<Record<string, string | boolean | string[] | undefined>>();
    const args: ParsedRun['args'] = {};
    for (const [name, option] of options) {
      const value = values[option.attributeName()];
      // commander reads `--no-x` as x = false (default true); the commands read it as the flag `no-x`.
      if (option.negate) args[name] = value === false ? true : undefined;
      else if (value !== undefined) args[name] = value;
    }
    await params.onRun({ command, args, positionals: self.args });
  });
}
