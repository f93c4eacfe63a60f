import { DiffLine, diffCounts, lineDiff } from '../src/linediff';

/** The old side (kept and removed lines) and the new side (kept and added lines). */
function sides(lines: DiffLine[]): [string, string] {
  const before = lines.filter(l => l.kind !== 'add').map(l => l.text);
  const after = lines.filter(l => l.kind !== 'del').map(l => l.text);
  return [before.join('\n'), after.join('\n')];
}

/** Length of the longest common subsequence, the slow way (test oracle). */
function lcsLength(a: string[], b: string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (let i = a.length - 1; i >= 0; i--) {
    let diag = 0;
    for (let j = b.length - 1; j >= 0; j--) {
      const keep = row[j];
      row[j] = a[i] === b[j] ? diag + 1 : Math.max(row[j], row[j + 1]);
      diag = keep;
    }
  }
  return row[0];
}

/** A small deterministic random source, so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
}

describe('lineDiff', () => {
  it('keeps every line of an unchanged source', () => {
    expect(lineDiff('a\nb\nc', 'a\nb\nc')).toEqual([
      { kind: 'same', text: 'a' },
      { kind: 'same', text: 'b' },
      { kind: 'same', text: 'c' }
    ]);
  });

  it('shows an inserted line between the kept ones', () => {
    expect(lineDiff('x = 1\nprint(x)', 'x = 1\ny = 2\nprint(x)')).toEqual([
      { kind: 'same', text: 'x = 1' },
      { kind: 'add', text: 'y = 2' },
      { kind: 'same', text: 'print(x)' }
    ]);
  });

  it('shows a changed line as removed then added', () => {
    const lines = lineDiff('a\nold\nc', 'a\nnew\nc');
    expect(lines.map(l => l.kind)).toEqual(['same', 'del', 'add', 'same']);
    expect(diffCounts(lines)).toEqual({ added: 1, removed: 1 });
  });

  it('turns an empty cell into all added lines', () => {
    const lines = lineDiff('', 'one\ntwo');
    expect(diffCounts(lines)).toEqual({ added: 2, removed: 1 });
    expect(sides(lines)).toEqual(['', 'one\ntwo']);
  });

  it('is a shortest edit script on random sources', () => {
    const next = random(7);
    for (let round = 0; round < 200; round++) {
      const pick = () =>
        Array.from({ length: Math.floor(next() * 12) }, () => 'abcd'[Math.floor(next() * 4)]);
      const a = pick();
      const b = pick();
      const lines = lineDiff(a.join('\n'), b.join('\n'));
      expect(sides(lines)).toEqual([a.join('\n'), b.join('\n')]);
      const aa = a.join('\n').split('\n');
      const bb = b.join('\n').split('\n');
      expect(lines.filter(l => l.kind === 'same').length).toBe(lcsLength(aa, bb));
    }
  });

  it('finds one changed line in a 50,000-line cell', () => {
    const before = Array.from({ length: 50_000 }, (_, i) => `line ${i}`);
    const after = [...before];
    after[25_000] = 'changed';
    const lines = lineDiff(before.join('\n'), after.join('\n'));
    expect(diffCounts(lines)).toEqual({ added: 1, removed: 1 });
    expect(sides(lines)).toEqual([before.join('\n'), after.join('\n')]);
  });

  it('falls back to all lines out, all lines in when nothing is alike', () => {
    const before = Array.from({ length: 30_000 }, (_, i) => `old ${i}`).join('\n');
    const after = Array.from({ length: 30_000 }, (_, i) => `new ${i}`).join('\n');
    const lines = lineDiff(before, after);
    expect(diffCounts(lines)).toEqual({ added: 30_000, removed: 30_000 });
    expect(sides(lines)).toEqual([before, after]);
  });
});
