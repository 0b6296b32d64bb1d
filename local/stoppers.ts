/** What a local stand-in set up and must tear down, stopped in the reverse order of starting. */
export class Stoppers {
  private readonly stops: (() => Promise<void>)[] = [];

  /** Registers a teardown; it runs before everything registered earlier. */
  add(stop: () => Promise<void>): void {
    this.stops.push(stop);
  }

  /**
   * Registers the teardown of something being started as soon as it has started, so that when several start side by
   * side and one fails, the others are still torn down.
   */
  async started<T>(starting: Promise<T>, stop: (started: T) => Promise<void>): Promise<T> {
    const value = await starting;
    this.add(() => stop(value));
    return value;
  }

  /** Registers a teardown that runs just before the last `count` registered ones. */
  addBeforeLast(count: number, stop: () => Promise<void>): void {
    this.stops.splice(this.stops.length - count, 0, stop);
  }

  /** Runs every teardown once, newest first; one that fails does not keep the others from running. */
  async stopAll(): Promise<void> {
    for (const stop of this.stops.splice(0).reverse()) await stop().catch(() => undefined);
  }
}
