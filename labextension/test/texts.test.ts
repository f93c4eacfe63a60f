import type { IInterruptedRun } from '../src/api';
import {
  ago,
  bannerMessage,
  ILiveRun,
  plural,
  runName,
  shortPhrase,
  statusText,
  tokenCount
} from '../src/texts';

describe('ago', () => {
  const now = 1_700_000_000;
  it('says "just now" under a minute, and for times in the future', () => {
    expect(ago(now - 59, now)).toBe('just now');
    expect(ago(now + 30, now)).toBe('just now');
  });
  it('counts whole minutes, then whole hours', () => {
    expect(ago(now - 60, now)).toBe('1 min ago');
    expect(ago(now - 3599, now)).toBe('59 min ago');
    expect(ago(now - 3600, now)).toBe('1 h ago');
    expect(ago(now - 86399, now)).toBe('23 h ago');
  });
  it('gives the date after a day', () => {
    const then = now - 2 * 86400;
    expect(ago(then, now)).toBe(new Date(then * 1000).toLocaleDateString());
  });
});

describe('status line', () => {
  const run = (over: Partial<ILiveRun['status']> = {}): ILiveRun => ({
    kernelId: 'k',
    receivedAt: 10_000,
    status: {
      session_id: 's',
      run_id: 'r',
      model: 'gpt-test',
      phase: 'running',
      elapsed: 3,
      input_tokens: 340,
      output_tokens: 85,
      tool: null,
      ...over
    }
  });

  it('counts tokens in thousands from 10,000', () => {
    expect(tokenCount(9999)).toBe('9999');
    expect(tokenCount(12_345)).toBe('12.3k');
  });

  it('adds the local time since the last message to the elapsed time', () => {
    expect(statusText(run(), 10_000 + 2_400)).toBe(
      'Agent run · gpt-test · 5 s · 340 in / 85 out tokens'
    );
  });

  it('names the tool that runs', () => {
    expect(statusText(run({ tool: 'python', input_tokens: 20_000 }), 10_000)).toBe(
      'Agent run · gpt-test · 3 s · 20.0k in / 85 out tokens · tool: python'
    );
  });
});

describe('restart banner', () => {
  const interrupted = (over: Partial<IInterruptedRun> = {}): IInterruptedRun => ({
    session_id: 'abc123',
    run_id: 'run1',
    title: 'Sum of primes',
    started_at: 0,
    request: 'What is the sum of the first ten primes?',
    tool_calls: 1,
    text_chars: 42,
    ...over
  });

  it('writes singular and plural counts', () => {
    expect(plural(1, 'tool call')).toBe('1 tool call');
    expect(plural(0, 'tool call')).toBe('0 tool calls');
  });

  it('keeps a short first sentence whole', () => {
    expect(shortPhrase('Plot it.  Then save it as PNG.')).toBe('Plot it.');
    expect(shortPhrase('\n\n  load   the data \nand more')).toBe('load the data');
  });

  it('cuts a long phrase at a word boundary, not on a dangling word', () => {
    const cut = shortPhrase(
      'Compute the mean of the temperature column and the median of the rest'
    );
    expect(cut).toBe('Compute the mean of the temperature…');
    expect(cut.length).toBeLessThanOrEqual(40);
  });

  it('names a run by its title, or by its request while the session is untitled', () => {
    expect(runName(interrupted())).toBe('Sum of primes');
    expect(runName(interrupted({ title: 'New session' }))).toBe(
      'What is the sum of the first ten primes?'
    );
    expect(runName(interrupted({ title: '', request: '' }))).toBe('abc123');
  });

  it('says what the session file kept', () => {
    expect(bannerMessage(interrupted())).toBe(
      'Agent run interrupted ("Sum of primes"): saved your request, 1 tool call, 42 characters of answer.'
    );
  });
});
