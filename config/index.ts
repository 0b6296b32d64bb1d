export * from './schema';
export * from './routes';
export * from './contract';
export * from './runtime';
export * from './tables';
