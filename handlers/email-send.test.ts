import { describe, expect, it } from 'vitest';
import { createTestHarness } from 'warren/testing';
import { sendEmail } from './email-send.js';

const email = { to: 'ada@example.com', subject: 'Welcome', body: 'Hello Ada' };

describe('email.send', () => {
  it('sends an e-mail', async () => {
    const harness = createTestHarness({ handlers: [sendEmail] });
    const jobId = await harness.publish('email.send', { ...email, template: 'welcome' });
    await harness.drain();
    expect(harness.handled('email.send')).toMatchObject([{ jobId, attempt: 1, outcome: 'success' }]);
  });

  it('dead-letters an unknown template at once: it can never succeed', async () => {
    const harness = createTestHarness({ handlers: [sendEmail] });
    await harness.publish('email.send', { ...email, template: 'newsletter' });
    await harness.drain();
    expect(harness.handled('email.send').map((h) => h.outcome)).toEqual(['dead']);
    expect(harness.deadLetters('email.send')).toMatchObject([
      {
        reason: 'non_retryable',
        attempts: 1,
        errorName: 'NonRetryableError',
        errorMessage: 'unknown e-mail template "newsletter"',
      },
    ]);
  });

  it('dead-letters an address that is none without sending anything', async () => {
    const harness = createTestHarness({ handlers: [sendEmail] });
    await harness.publish('email.send', { ...email, to: 'ada' });
    await harness.drain();
    const [letter] = harness.deadLetters('email.send');
    expect(letter?.reason).toBe('invalid_payload');
    expect(letter?.errorMessage).toMatch(/to/);
  });

  it('sends at most 20 at once (its concurrency), and all of them', async () => {
    const harness = createTestHarness({ handlers: [sendEmail] });
    for (let i = 0; i < 50; i += 1) await harness.publish('email.send', { ...email, subject: `#${i}` });
    await harness.drain();
    expect(harness.handled('email.send').filter((h) => h.outcome === 'success')).toHaveLength(50);
  });
});
