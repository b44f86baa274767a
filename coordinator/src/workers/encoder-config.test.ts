import { describe, expect, it } from 'vitest';
import { deterministicConfig, taskEncodersOf, WASM_X264_SINGLE_THREAD } from './encoder-config.js';

describe('deterministicConfig', () => {
  it('is the single-thread wasm core only', () => {
    expect(deterministicConfig({ encoders: ['wasm-x264'], threads: 1, wasmMultiThread: false })).toBe(WASM_X264_SINGLE_THREAD);
    expect(deterministicConfig({ encoders: ['wasm-x264', 'webcodecs-h264'], threads: 1, wasmMultiThread: false })).toBe(
      WASM_X264_SINGLE_THREAD,
    );
    expect(deterministicConfig({ encoders: ['wasm-x264'], threads: 2, wasmMultiThread: true })).toBeNull();
    expect(deterministicConfig({ encoders: ['wasm-x264'], threads: 1, wasmMultiThread: true })).toBeNull();
    expect(deterministicConfig({ encoders: ['webcodecs-h264', 'wasm-x264'], threads: 1, wasmMultiThread: false })).toBeNull();
    expect(deterministicConfig({ encoders: ['native-x264'], threads: 1, wasmMultiThread: false })).toBeNull();
    expect(deterministicConfig(null)).toBeNull();
  });
});

describe('taskEncodersOf', () => {
  it('maps reported kinds to the task encoders a worker may be given', () => {
    expect(taskEncodersOf({ encoders: ['wasm-x264'] })).toEqual(['x264']);
    expect(taskEncodersOf({ encoders: ['native-x264'] })).toEqual(['x264']);
    expect(taskEncodersOf({ encoders: ['wasm-x264', 'webcodecs-h264'] })).toEqual(['x264', 'webcodecs']);
    expect(taskEncodersOf({ encoders: ['webcodecs-h264'] })).toEqual(['webcodecs']);
  });
  it('a WebCodecs task never has a deterministic configuration, whoever runs it', () => {
    expect(deterministicConfig({ encoders: ['wasm-x264', 'webcodecs-h264'], threads: 1, wasmMultiThread: false }, 'webcodecs')).toBeNull();
  });
});
