/**
 * Small helpers for cdk-nag v3 acknowledgements, which are made per finding (`RuleId[Finding]`) with a reason.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges `AwsSolutions-IAM5` for each given wildcard resource on `scope` and everything below it.
 *
 * cdk-nag names such a finding after the resource as it appears in the template, with `Ref`/`Fn::GetAtt` written as
 * `<LogicalId>` / `<LogicalId.Attribute>`; the resources are resolved and flattened the same way here, so tokens
 * (partition, account) in an ARN produce the same id as the finding.
 */
export function acknowledgeWildcardResources(scope: IConstruct, resources: readonly string[], reason: string): void {
  const stack = Stack.of(scope);
  for (const resource of new Set(resources.map((r) => flattenReference(stack.resolve(r))))) {
    Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
  }
}

/** Writes a resolved CloudFormation value as one string, the way cdk-nag writes finding ids. */
export function flattenReference(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (Array.isArray(o['Fn::Join'])) {
      const [delimiter, items] = o['Fn::Join'] as [string, unknown[]];
      return items.map(flattenReference).join(delimiter);
    }
    if (o['Fn::Sub'] !== undefined) return flattenReference(o['Fn::Sub']);
    if (Array.isArray(o['Fn::GetAtt'])) {
      const [resource, attribute] = o['Fn::GetAtt'] as [unknown, unknown];
      return `<${flattenReference(resource)}.${flattenReference(attribute)}>`;
    }
    if (o['Fn::ImportValue'] !== undefined) return flattenReference(o['Fn::ImportValue']);
    if (o.Ref !== undefined) return `<${flattenReference(o.Ref)}>`;
  }
  return JSON.stringify(node);
}
