/** The Redis side of scale-out that loads nothing heavy: the queue name and URL checks. */
export const DEFAULT_QUEUE = 'xenotype-sweep';

export class RedisUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUrlError';
  }
}

/** Throw a RedisUrlError unless `url` is a redis:// or rediss:// URL. */
export function checkRedisUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedisUrlError(`--redis "${url}": expected a URL such as redis://127.0.0.1:6379`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new RedisUrlError(`--redis "${url}": expected a redis:// or rediss:// URL`);
}
