import { IllegalStateError } from '../errors/illegal-state-error.js';

/** A link of a chain: it gets the call's subject and `next`, which runs the rest of the chain. */
export type Link<S, R> = (subject: S, next: () => Promise<R>) => R | Promise<R>;

/**
 * Chains `links` around `end`, the first link outermost: each link decides whether, when and how often the rest
 * runs by calling `next` (at most once; a second call rejects). What a link throws, or `next` rejects with, is the
 * chain's rejection. Built once per chain; a call costs a closure and a promise per link.
 */
export function compose<S, R>(
  links: ReadonlyArray<Link<S, R>>,
  end: (subject: S) => R | Promise<R>,
): (subject: S) => Promise<R> {
  return (subject) => {
    let reached = -1;
    const dispatch = (index: number): Promise<R> => {
      if (index <= reached) return Promise.reject(new IllegalStateError('a middleware called next() more than once'));
      reached = index;
      try {
        const link = links[index];
        return Promise.resolve(link === undefined ? end(subject) : link(subject, () => dispatch(index + 1)));
      } catch (error) {
        return Promise.reject(error);
      }
    };
    return dispatch(0);
  };
}
