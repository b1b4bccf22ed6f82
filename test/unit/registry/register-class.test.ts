import { describe, expect, it } from 'vitest';
import { Job, Registry, RegistrationError } from 'warren';

class NeedsDatabase {
  constructor() {
    throw new TypeError('DATABASE_URL is not set');
  }

  @Job('orders.sync')
  sync(): void {}

  @Job('orders.purge')
  purge(): void {}
}

class ThrowsAString {
  constructor() {
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    throw 'not today';
  }

  @Job('strings.thrown')
  run(): void {}
}

describe('Registry.registerClass', () => {
  it('a constructor that throws: a RegistrationError naming the class and its job types, with the cause', () => {
    const error = (() => {
      try {
        new Registry().add([NeedsDatabase]);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(RegistrationError);
    expect((error as RegistrationError).code).toBe('WARREN_ERR_REGISTRATION');
    expect((error as Error).message).toBe(
      'class NeedsDatabase (job types orders.sync, orders.purge) could not be created: its constructor threw ' +
        'TypeError: DATABASE_URL is not set. warren creates one instance per class, with no arguments',
    );
    expect((error as Error).cause).toBeInstanceOf(TypeError);
  });

  it('names what was thrown when it is not an Error', () => {
    expect(() => new Registry().registerClass(ThrowsAString)).toThrow(
      /^class ThrowsAString \(job types strings\.thrown\) could not be created: its constructor threw not today\./,
    );
  });
});
