import { AppError } from '@rehost/jobs';
import { BotRegistry } from './bot-registry.js';

const DEFAULT_TOKEN = '111111111:AAdefaultdefaultdefaultdefaultdefau';
const SUPPORT_TOKEN = '222222222:AAsupportsupportsupportsupportsuppo';

describe('BotRegistry', () => {
  it('registers the default bot and the named ones', () => {
    const bots = BotRegistry.fromConfig(DEFAULT_TOKEN, { support: SUPPORT_TOKEN, empty: '' }, 'https://api.telegram.org/');
    expect(bots.names()).toEqual(['default', 'support']);
    expect(bots.get('support').name).toBe('support');
    expect(bots.get('default').baseUrl).toBe('https://api.telegram.org');
  });

  it('points a named bot at its own Bot API server with token@origin (a local server)', () => {
    const bots = BotRegistry.fromConfig(DEFAULT_TOKEN, { big: `${SUPPORT_TOKEN}@http://127.0.0.1:8081` }, 'https://api.telegram.org');
    expect(bots.get('big').baseUrl).toBe('http://127.0.0.1:8081');
    expect(bots.get('default').baseUrl).toBe('https://api.telegram.org');
    expect(JSON.stringify(bots.get('big'))).not.toContain(SUPPORT_TOKEN);
  });

  it('has no default bot without a default token', () => {
    const bots = BotRegistry.fromConfig(undefined, { support: SUPPORT_TOKEN }, 'https://api.telegram.org');
    expect(bots.names()).toEqual(['support']);
  });

  it('refuses an unknown bot with a permanent bot_not_configured', () => {
    const bots = BotRegistry.fromConfig(DEFAULT_TOKEN, {}, 'https://api.telegram.org');
    let err: unknown;
    try {
      bots.get('marketing');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'bot_not_configured', permanent: true });
    expect((err as Error).message).toContain('"marketing"');
  });

  it('refuses a bot configured twice', () => {
    expect(() => BotRegistry.fromConfig(DEFAULT_TOKEN, { default: SUPPORT_TOKEN }, 'https://api.telegram.org')).toThrow(
      'Telegram bot "default" is configured twice',
    );
  });

  it('keeps tokens out of its serialized form and out of configuration errors', () => {
    const bots = BotRegistry.fromConfig(DEFAULT_TOKEN, { support: SUPPORT_TOKEN }, 'https://api.telegram.org');
    expect(JSON.stringify(bots)).toBe('{"bots":["default","support"]}');
    let message = '';
    try {
      BotRegistry.fromConfig('12345 6789:bad token', {}, 'https://api.telegram.org');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe('Telegram bot "default": the token is empty or malformed');
  });
});
