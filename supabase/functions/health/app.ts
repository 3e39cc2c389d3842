import { x } from '@shared/probe.ts';
export const app = x;
