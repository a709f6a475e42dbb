export function writeReport(_results: unknown, _file: string): void {}
