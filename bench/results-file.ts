/**
 * How a full bench run rewrites bench/RESULTS.md without losing what it does not produce: sections and
 * subsections written by hand or by other scripts (before/after comparisons, `npm run bench:l1`, the
 * observability figures) stay where they were, after the generated section they belonged to.
 */

interface Block {
  heading: string;
  /** 2 for `##`, 3 for `###`; 0 for the text before the first heading. */
  level: number;
  text: string;
}

function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  for (const line of markdown.split('\n')) {
    const match = /^(#{2,3}) /.exec(line);
    if (match || out.length === 0) {
      out.push({ heading: match ? line : '', level: match ? match[1].length : 0, text: '' });
    }
    out[out.length - 1].text += `${line}\n`;
  }
  return out;
}

/** `generated` with every section of `previous` whose heading it lacks, kept after its parent section. */
export function mergeResults(generated: string, previous: string): string {
  const fresh = blocks(generated.trimEnd());
  const made = new Set(fresh.map((block) => block.heading));
  const kept = new Map<string, string[]>(); // parent `##` heading -> blocks kept after it
  let parent = '';
  for (const block of blocks(previous)) {
    if (block.level === 2) parent = block.heading;
    if (block.level === 0 || made.has(block.heading)) continue;
    const under = block.level === 2 ? block.heading : parent;
    const at = made.has(under) ? under : '';
    kept.set(at, [...(kept.get(at) ?? []), block.text.trimEnd()]);
  }
  const out: string[] = [];
  fresh.forEach((block, i) => {
    out.push(block.text.trimEnd());
    const next = fresh[i + 1];
    // After the last block of a generated `##` section, its kept subsections.
    if (!next || next.level === 2) {
      const section = [...fresh.slice(0, i + 1)].reverse().find((b) => b.level === 2)?.heading;
      if (section && kept.has(section)) out.push(...kept.get(section)!);
    }
  });
  out.push(...(kept.get('') ?? []));
  return `${out.join('\n\n')}\n`;
}
