// `qcowdbg completion bash|zsh`: a completion script made from the commands' own definitions (names, options,
// descriptions, option values), so it follows the CLI as it grows. Install:
//   bash: qcowdbg completion bash > ~/.local/share/bash-completion/completions/qcowdbg
//   zsh:  qcowdbg completion zsh > "${fpath[1]}/_qcowdbg"
import type { Command, Option } from "commander";
import { ExitError, guarded } from "../fail.js";

/** Values an option takes, when they are a short list its description names ("human or json", "a|b|c"). */
function optionValues(o: Option): string[] {
  if (o.argChoices) return o.argChoices;
  if (!(o.required || o.optional)) return [];
  // The whole description, or what follows a "label: " prefix, up to ":", ";", " (" or its end: "human or json",
  // "image format: qcow2 or raw (default: probe)", "a|b|c".
  const m = /^(?:[\w -]+: )?(\w[\w-]*(?:(?:, |\||,? or )\w[\w-]*)+)(?=$|[:;]| \()/.exec(o.description);
  return m ? m[1]!.split(/,? or |, |\|/) : [];
}

function flagsOf(cmd: Command): string[] {
  return cmd.options.flatMap((o) => [o.short, o.long].filter((f): f is string => Boolean(f))).concat(["--help"]);
}

export function bashScript(program: Command): string {
  const cmds = program.commands.filter((c) => c.name() !== "help");
  const cases = cmds.filter((c) => c.name() !== "completion").map((c) => {
    const values = c.options
      .map((o) => ({ flags: [o.short, o.long].filter(Boolean).join("|"), values: optionValues(o) }))
      .filter((v) => v.values.length > 1)
      .map((v) => `        ${v.flags}) COMPREPLY=( $(compgen -W "${v.values.join(" ")}" -- "$cur") ); return ;;`);
    const takesValue = c.options.filter((o) => (o.required || o.optional) && optionValues(o).length < 2).flatMap((o) => [o.short, o.long].filter(Boolean));
    return [
      `    ${c.name()})`,
      `      case "$prev" in`,
      ...values,
      ...(takesValue.length ? [`        ${takesValue.join("|")}) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;`] : []),
      `      esac`,
      `      opts="${flagsOf(c).join(" ")}" ;;`,
    ].join("\n");
  });
  return `# bash completion for qcowdbg (made by \`qcowdbg completion bash\`)
_qcowdbg() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" opts=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${cmds.map((c) => c.name()).join(" ")} help --help --version" -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases.join("\n")}
    completion) COMPREPLY=( $(compgen -W "bash zsh" -- "$cur") ); return ;;
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$opts" -- "$cur") ); else COMPREPLY=( $(compgen -f -- "$cur") ); fi
}
complete -o filenames -o bashdefault -F _qcowdbg qcowdbg
`;
}

const zq = (s: string) => s.replace(/'/g, "'\\''").replace(/([[\]:])/g, "\\$1");

export function zshScript(program: Command): string {
  const cmds = program.commands.filter((c) => c.name() !== "help");
  const list = cmds.filter((c) => c.name() !== "completion").map((c) => `    '${c.name()}:${zq(c.description())}'`).join("\n");
  const cases = cmds.filter((c) => c.name() !== "completion").map((c) => {
    const specs = c.options.map((o) => {
      const names = [o.short, o.long].filter(Boolean) as string[];
      const head = names.length > 1 ? `(${names.join(" ")})'{${names.join(",")}}'` : names[0]!;
      const values = optionValues(o);
      const arg = o.required || o.optional ? `:${zq(o.flags.split(/\s+/).pop()!.replace(/[<>[\]]/g, ""))}:${values.length > 1 ? `(${values.join(" ")})` : "_files"}` : "";
      return `        '${head}[${zq(o.description)}]${arg}'`;
    });
    return `    ${c.name()})\n      _arguments -s \\\n${[...specs, "        '*:file:_files'"].join(" \\\n")} ;;`;
  });
  return `#compdef qcowdbg
# zsh completion for qcowdbg (made by \`qcowdbg completion zsh\`)
_qcowdbg() {
  local -a commands
  commands=(
${list}
    'completion:print a bash or zsh completion script'
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case $words[2] in
${cases.join("\n")}
    completion) _values 'shell' bash zsh ;;
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _qcowdbg "$@"; else compdef _qcowdbg qcowdbg; fi
`;
}

export function register(program: Command): void {
  program
    .command("completion")
    .description("print a bash or zsh completion script (qcowdbg completion bash > ~/.local/share/bash-completion/completions/qcowdbg)")
    .argument("<shell>", "bash or zsh")
    .action(
      guarded((shell: string) => {
        if (shell === "bash") process.stdout.write(bashScript(program));
        else if (shell === "zsh") process.stdout.write(zshScript(program));
        else throw new ExitError(`completion: shell must be bash or zsh, not '${shell}'`, 1);
      }),
    );
}
