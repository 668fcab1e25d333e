import type { CliCommand, CliCommandGroup } from './command.ts';

/** A word the shell may offer after a command path, with its description (zsh shows it). */
interface Candidate {
  word: string;
  description: string;
}

/**
 * What may follow each command path ('' is `casebridge` itself): subcommands, then options. Built
 * from the same groups and commands as the help, so completion cannot drift from the commands.
 */
export function completionTable(groups: CliCommandGroup[], commands: CliCommand[]): Map<string, Candidate[]> {
  const table = new Map<string, Candidate[]>();
  const add = (words: string[], candidate: Candidate) => {
    const key = words.join(' ');
    const list = table.get(key) ?? [];
    if (!list.some((c) => c.word === candidate.word)) list.push(candidate);
    table.set(key, list);
  };
  for (const g of groups) add(g.words.slice(0, -1), { word: g.words.at(-1)!, description: g.summary });
  add([], { word: 'completion', description: 'Print the shell completion script for bash or zsh' });
  add([], { word: 'help', description: 'Show help for a command' });
  for (const c of commands) {
    if (c.words.length > 1) add(c.words.slice(0, -1), { word: c.words.at(-1)!, description: c.summary });
    for (const [name, o] of Object.entries(c.options ?? {})) {
      if (name !== 'json') add(c.words, { word: `--${name}`, description: o.description ?? '' });
    }
    add(c.words, { word: '--json', description: 'print the result as JSON' });
    add(c.words, { word: '--help', description: 'show help for the command' });
  }
  for (const key of [...table.keys()]) if (key !== '') add(key.split(' '), { word: '--help', description: 'show help for the command' });
  add(['completion'], { word: 'bash', description: 'bash completion script' });
  add(['completion'], { word: 'zsh', description: 'zsh completion script' });
  add([], { word: '--help', description: 'show help' });
  add([], { word: '--version', description: 'print the version' });
  return table;
}

/** A string as one single-quoted shell word. */
const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** The candidates function both scripts share: prints the candidates of a path, fails for an unknown path. */
function candidatesFunction(table: Map<string, Candidate[]>, line: (c: Candidate) => string): string {
  const cases = [...table].map(([path, list]) => `    ${quote(path)}) printf '%s\\n' ${list.map((c) => quote(line(c))).join(' ')} ;;`);
  return ['_casebridge_candidates() {', '  case "$1" in', ...cases, '    *) return 1 ;;', '  esac', '}'].join('\n');
}

/**
 * The completion script for a shell. It walks the words typed so far to the deepest known command
 * path (options and their values are skipped) and offers that path's subcommands, or its options
 * when the current word starts with `-`; with nothing to offer, the shell completes file names.
 */
export function completionScript(shell: 'bash' | 'zsh', table: Map<string, Candidate[]>): string {
  if (shell === 'bash') {
    return `# casebridge completion for bash. Install:
#   casebridge completion bash > ~/.local/share/bash-completion/completions/casebridge
# or add to ~/.bashrc:  eval "$(casebridge completion bash)"
${candidatesFunction(table, (c) => c.word)}
_casebridge() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cb_path='' word i candidates
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    [[ $word == -* ]] && continue
    _casebridge_candidates "\${cb_path:+$cb_path }$word" >/dev/null && cb_path=\${cb_path:+$cb_path }$word
  done
  candidates=$(_casebridge_candidates "$cb_path" | grep -- "$([[ $cur == -* ]] && echo '^-' || echo '^[^-]')")
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -o default -F _casebridge casebridge
`;
  }
  return `#compdef casebridge
# casebridge completion for zsh. Install:
#   casebridge completion zsh > "\${fpath[1]}/_casebridge"   (then start a new shell)
# or add to ~/.zshrc after compinit:  eval "$(casebridge completion zsh)"
${candidatesFunction(table, (c) => `${c.word}:${c.description.replaceAll(':', '\\:')}`)}
_casebridge() {
  local cb_path='' word i
  local -a candidates
  for ((i = 2; i < CURRENT; i++)); do
    word=\${words[i]}
    [[ $word == -* ]] && continue
    _casebridge_candidates "\${cb_path:+$cb_path }$word" >/dev/null && cb_path=\${cb_path:+$cb_path }$word
  done
  candidates=(\${(f)"$(_casebridge_candidates "$cb_path")"})
  if [[ $PREFIX == -* ]]; then candidates=(\${(M)candidates:#-*}); else candidates=(\${candidates:#-*}); fi
  if (( \${#candidates} )); then _describe -t commands casebridge candidates; else _files; fi
}
if [[ \${zsh_eval_context[-1]} == loadautoload ]]; then _casebridge "$@"; else compdef _casebridge casebridge; fi
`;
}
