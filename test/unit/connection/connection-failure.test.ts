import { describe, expect, it } from 'vitest';
import { explainConnectionFailure } from '../../../src/connection/connection-failure.js';
import { redactUrl } from '../../../src/config/broker-urls.js';

describe('redactUrl', () => {
  it('hides the password and nothing else', () => {
    expect(redactUrl('amqp://user:s3cret@host:5672/vh')).toBe('amqp://user:***@host:5672/vh');
    expect(redactUrl('amqp://host:5672')).toBe('amqp://host:5672');
  });
});

describe('explainConnectionFailure', () => {
  const url = 'amqp://bob:pw@127.0.0.1:5672/shop';
  const source = 'config/warren.json (amqpUrl)';
  const withCode = (code: string): Error => Object.assign(new Error(`connect ${code}`), { code });

  it('makes a refused login fatal and readable, naming where the URL came from, without the password', () => {
    const failure = explainConnectionFailure(
      new Error('Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED"'),
      url,
      source,
    );
    expect(failure.fatal).toBe(true);
    expect(failure.error.message).toBe(
      'RabbitMQ at amqp://bob:***@127.0.0.1:5672/shop refused the login of user "bob" (403 ACCESS_REFUSED): check the user name and password in config/warren.json (amqpUrl)',
    );
    expect(failure.error.message).not.toContain('pw@');
  });

  it('explains an unknown vhost instead of "Expected ConnectionOpenOk", and where to fix it', () => {
    const failure = explainConnectionFailure(
      new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>'),
      url,
      'WARREN_AMQP_URL',
    );
    expect(failure.fatal).toBe(true);
    expect(failure.error.message).toContain('no virtual host "shop"');
    expect(failure.error.message).toMatch(/: check the vhost \(the URL's path\) in WARREN_AMQP_URL$/);
  });

  it('retries a refused port, and says where the host and port came from', () => {
    const failure = explainConnectionFailure(withCode('ECONNREFUSED'), url, 'the amqpUrl option passed in code');
    expect(failure.fatal).toBe(false);
    expect(failure.error.message).toBe(
      'nothing is listening for AMQP at 127.0.0.1:5672 (connection refused): is RabbitMQ running? Check the host and port in the amqpUrl option passed in code',
    );
  });

  it.each(['ENOTFOUND', 'EAI_AGAIN'])(
    'retries an unresolvable host (%s), and says where the host came from',
    (code) => {
      const failure = explainConnectionFailure(
        withCode(code),
        'amqp://bob:pw@rabbit.invalid:5672',
        'the default amqpUrl (set WARREN_AMQP_URL)',
      );
      expect(failure.fatal).toBe(false);
      expect(failure.error.message).toBe(
        `the broker host in amqp://bob:***@rabbit.invalid:5672 cannot be resolved (${code}): check the host in the default amqpUrl (set WARREN_AMQP_URL)`,
      );
    },
  );

  it('says where the host and port came from when connecting times out', () => {
    const failure = explainConnectionFailure(withCode('ETIMEDOUT'), url, 'WARREN_AMQP_URL');
    expect(failure.error.message).toBe(
      'connecting to 127.0.0.1:5672 timed out: check the host and port in WARREN_AMQP_URL',
    );
  });

  it('names a port that answered with bytes that are not AMQP (an HTTP server, say), and keeps retrying', () => {
    for (const message of [
      'Frame size 1345270062 exceeds maxFrameSize 67108864',
      'Unknown frame type 72',
      'Expected ConnectionStart; got <frame>',
    ]) {
      const failure = explainConnectionFailure(
        new Error(message),
        'amqp://guest:guest@127.0.0.1:8080',
        'WARREN_AMQP_URL',
      );
      expect(failure.fatal, message).toBe(false);
      expect(failure.error.message, message).toBe(
        "127.0.0.1:8080 answered, but not as an AMQP broker: is this RabbitMQ's port? Check the port in WARREN_AMQP_URL",
      );
      expect((failure.error.cause as Error).message).toBe(message);
    }
  });
});
