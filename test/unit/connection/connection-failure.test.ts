import { describe, expect, it } from 'vitest';
import { explainConnectionFailure } from '../../../src/connection/connection-failure.js';
import { redactUrl } from '../../../src/connection/redact-url.js';

describe('redactUrl', () => {
  it('hides the password and nothing else', () => {
    expect(redactUrl('amqp://user:s3cret@host:5672/vh')).toBe('amqp://user:***@host:5672/vh');
    expect(redactUrl('amqp://host:5672')).toBe('amqp://host:5672');
  });
});

describe('explainConnectionFailure', () => {
  const url = 'amqp://bob:pw@127.0.0.1:5672/shop';

  it('makes a refused login fatal and readable, without the password', () => {
    const failure = explainConnectionFailure(
      new Error('Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED"'),
      url,
    );
    expect(failure.fatal).toBe(true);
    expect(failure.error.message).toContain('refused the login of user "bob"');
    expect(failure.error.message).not.toContain('pw@');
  });

  it('explains an unknown vhost instead of "Expected ConnectionOpenOk"', () => {
    const failure = explainConnectionFailure(
      new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>'),
      url,
    );
    expect(failure.fatal).toBe(true);
    expect(failure.error.message).toContain('no virtual host "shop"');
  });

  it('retries a refused port', () => {
    const failure = explainConnectionFailure(
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      url,
    );
    expect(failure.fatal).toBe(false);
    expect(failure.error.message).toContain('nothing is listening for AMQP at 127.0.0.1:5672');
  });
});
