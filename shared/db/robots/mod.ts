/**
 * Robots: schema (fields whitelist, strategy types, write schemas) and repository.
 *
 * @module
 */
export * from './schema.ts';
export * from './repository.ts';
