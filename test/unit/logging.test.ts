import { describe, expect, it } from 'vitest';
import { createLogger } from 'warren';

describe('createLogger', () => {
  it('writes JSON and redacts passwords in url fields', () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
    logger.info({ url: 'amqp://app:hunter2@mq:5672/prod', nested: { amqpUrl: 'amqp://u:p4ss@h' } }, 'connecting');
    const entry = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(entry['url']).toBe('amqp://app:***@mq:5672/prod');
    expect((entry['nested'] as Record<string, unknown>)['amqpUrl']).toBe('amqp://u:***@h');
    expect(lines[0]).not.toMatch(/hunter2|p4ss/);
  });
});
