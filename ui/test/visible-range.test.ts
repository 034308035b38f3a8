import { describe, expect, it } from 'vitest';
import { visibleRange } from '../src/views/library';

describe('visibleRange', () => {
  it('renders the rows in view and a few around them, never beyond the list', () => {
    expect(visibleRange(0, 400, 10_000, 40, 5)).toEqual([0, 15]);
    expect(visibleRange(4000, 400, 10_000, 40, 5)).toEqual([95, 115]);
    expect(visibleRange(399_600, 400, 10_000, 40, 5)).toEqual([9985, 10_000]);
    expect(visibleRange(0, 400, 3, 40, 5)).toEqual([0, 3]);
    expect(visibleRange(0, 400, 0, 40, 5)).toEqual([0, 0]);
  });

  it('stays inside the list when it shrank under a scroll position', () => {
    const [first, last] = visibleRange(100_000, 400, 10, 40, 5);
    expect(first).toBeLessThanOrEqual(last);
    expect(last).toBe(10);
  });
});
