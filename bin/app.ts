#!/usr/bin/env node
/** The CDK app: configuration from `cdk.json` context `genai`, one stack, cdk-nag on. */
import { App } from 'aws-cdk-lib';
import { ConfigError } from '../config/schema';
import { buildApp } from '../lib/app';

try {
  buildApp(new App());
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  // A configuration mistake is the user's to fix: print the fields, not a stack trace.
  console.error(err.message);
  process.exit(1);
}
