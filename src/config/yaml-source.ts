/**
 * A parsed YAML document that can say on which line a configuration path stands, and the one
 * format of a configuration problem: `file:line path: message`.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document } from 'yaml';

/** A path into the configuration as zod reports it: keys and array indexes. */
export type ConfigPath = readonly PropertyKey[];

/** Renders a path the way the YAML reads: `clients[0].secret`, `policy.rules[2].match["odd key"]`. */
export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out === '' ? '(top level)' : out;
}

/** The first line of a yaml library message, without its trailing "at line L, column C:" part. */
function shortYamlMessage(message: string): string {
  const first = message.split('\n', 1)[0] ?? message;
  return first.replace(/ at line \d+, column \d+:?$/, '');
}

/** Where a path was found: the line to report and the part of the path that exists. */
interface Located {
  readonly line: number;
  /** The path to show: the requested one, less a trailing index into a scalar (`client: x` read as a list). */
  readonly shown: ConfigPath;
}

/** One configuration text, parsed, with line numbers. */
export class YamlSource {
  /** The name problems are reported under (the file path as given). */
  readonly name: string;
  readonly #doc: Document;
  readonly #lines: LineCounter;

  constructor(text: string, name: string) {
    this.name = name;
    this.#lines = new LineCounter();
    // uniqueKeys (the default) makes a repeated key an error, not a silent overwrite.
    this.#doc = parseDocument(text.replace(/^\uFEFF/, ''), { lineCounter: this.#lines, uniqueKeys: true, prettyErrors: true });
  }

  /** YAML syntax problems (bad indentation, duplicate keys, several documents), formatted. */
  syntaxProblems(): string[] {
    return this.#doc.errors.map((error) => {
      const line = error.linePos?.[0].line ?? this.#lineAt(error.pos[0]);
      return `${this.name}:${line} yaml: ${shortYamlMessage(error.message)}`;
    });
  }

  /** The document as plain data (aliases expanded, at most 100 of them). */
  toData(): unknown {
    return this.#doc.toJS({ maxAliasCount: 100 });
  }

  /** A problem at `path`, formatted `file:line path: message`. */
  problem(path: ConfigPath, message: string): string {
    const { line, shown } = this.locate(path);
    return `${this.name}:${line} ${formatPath(shown)}: ${message}`;
  }

  /**
   * The line of `path`: for a mapping entry the line of its key, for a sequence item the line it
   * starts on. A path that does not exist (a missing key) reports its nearest existing parent.
   */
  locate(path: ConfigPath): Located {
    let node: unknown = this.#doc.contents;
    let offset = rangeStart(node) ?? 0;
    for (let depth = 0; depth < path.length; depth += 1) {
      const segment = path[depth];
      if (isAlias(node)) node = node.resolve(this.#doc);
      if (isMap(node)) {
        const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
        if (pair === undefined) return { line: this.#lineAt(offset), shown: path };
        offset = rangeStart(pair.key) ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
        node = node.items[segment];
        offset = rangeStart(node) ?? offset;
      } else {
        const shown = isScalar(node) && depth === path.length - 1 && typeof segment === 'number' ? path.slice(0, depth) : path;
        return { line: this.#lineAt(offset), shown };
      }
    }
    return { line: this.#lineAt(offset), shown: path };
  }

  #lineAt(offset: number): number {
    return this.#lines.linePos(offset).line;
  }
}

/** Start offset of a yaml node, when it has one. */
function rangeStart(node: unknown): number | undefined {
  if (typeof node !== 'object' || node === null || !('range' in node)) return undefined;
  const range: unknown = node.range;
  return Array.isArray(range) && typeof range[0] === 'number' ? range[0] : undefined;
}
