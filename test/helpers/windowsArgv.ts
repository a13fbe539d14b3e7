/**
 * How a Windows program built with the Microsoft C runtime (and mingw-w64, which follows it)
 * splits its command line into argv, written from Microsoft's documentation "Parsing C
 * command-line arguments" (learn.microsoft.com/cpp/c-language/parsing-c-command-line-arguments),
 * the rules CommandLineToArgvW also follows:
 *
 * - arguments are separated by whitespace: a space or a tab;
 * - argv[0], the program name, is special: double quotes group (and are dropped), nothing
 *   else is interpreted, and none of the rules below apply to it;
 * - a string in double quotes is one argument, spaces and all; a quoted part can sit inside
 *   a longer argument; the caret is not an escape character;
 * - inside quotes, two double quotes in a row stand for one literal double quote;
 * - backslashes are literal unless a double quote follows them: then 2n backslashes give n
 *   backslashes and the quote opens or closes a quoted part, and 2n+1 backslashes give n
 *   backslashes and a literal double quote;
 * - a command line that ends inside quotes ends the last argument there.
 */
export function windowsArgv(commandLine: string): string[] {
  const argv: string[] = [];
  const isBlank = (c: string | undefined) => c === ' ' || c === '\t';
  let i = 0;

  // argv[0]
  let program = '';
  let quoted = false;
  for (; i < commandLine.length; i++) {
    const c = commandLine[i]!;
    if (c === '"') quoted = !quoted;
    else if (isBlank(c) && !quoted) break;
    else program += c;
  }
  argv.push(program);

  for (;;) {
    while (isBlank(commandLine[i])) i++;
    if (i >= commandLine.length) return argv;
    let arg = '';
    let inQuotes = false;
    for (; i < commandLine.length; i++) {
      const c = commandLine[i]!;
      if (c === '\\') {
        let n = 0;
        while (commandLine[i + n] === '\\') n++;
        if (commandLine[i + n] === '"') {
          arg += '\\'.repeat(Math.floor(n / 2));
          i += n;
          if (n % 2 === 1) arg += '"';
          else inQuotes = !inQuotes;
        } else {
          arg += '\\'.repeat(n);
          i += n - 1;
        }
      } else if (c === '"') {
        if (inQuotes && commandLine[i + 1] === '"') {
          arg += '"';
          i++;
        } else inQuotes = !inQuotes;
      } else if (isBlank(c) && !inQuotes) {
        break;
      } else arg += c;
    }
    argv.push(arg);
  }
}
