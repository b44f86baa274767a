/** Each failure scenario prints what it injected, what the job did, and how its outputs checked out. */
export class ScenarioReport {
  private readonly started = Date.now();
  private readonly lines: string[] = [];

  constructor(private readonly name: string) {}

  private at(): string {
    return `+${((Date.now() - this.started) / 1000).toFixed(1)}s`;
  }

  injected(what: string): void {
    this.lines.push(`${this.at()} injected: ${what}`);
  }

  observed(what: string): void {
    this.lines.push(`${this.at()} job: ${what}`);
  }

  verified(what: string): void {
    this.lines.push(`${this.at()} verified: ${what}`);
  }

  elapsedSeconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  print(): void {
    console.log(
      [`── fault scenario: ${this.name} (wall ${this.elapsedSeconds().toFixed(1)} s)`, ...this.lines.map((l) => `   ${l}`)].join('\n'),
    );
  }
}
