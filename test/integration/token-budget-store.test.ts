/**
 * The per-user token budget over its DynamoDB store, against dynalite (in-process, 127.0.0.1), with an injected
 * clock: the shared behaviour suite (test/suites/token-budget.suite.ts, which test/unit/token-budget.test.ts runs
 * against an in-memory store; its parallel reservations here race through the conditional ADD), then the item shape
 * deployed instances share.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoTokenBudgetStore } from '../../lambda/aws/token-budget-store';
import { unreachableDocumentClient, useGuardTable } from '../helpers/dynalite';
import { tokenBudgetSuite, useBudgetFixture, type TokenBudgetHarness } from '../suites/token-budget.suite';

const TABLE = 'guard-budget-integration';
const guard = useGuardTable(TABLE);
const rawItem = async (userId: string, window: string) =>
  (await guard.doc.send(new GetCommand({ TableName: TABLE, Key: { pk: DynamoTokenBudgetStore.key(userId, window) } })))
    .Item;

/** A DynamoTokenBudgetStore per budget over the shared table, as deployed instances have; requests counted per test. */
function dynamoHarness(): TokenBudgetHarness {
  beforeEach(() => guard.requests.reset());
  return {
    store: () => new DynamoTokenBudgetStore({ tableName: TABLE, documentClient: guard.doc }),
    get requests() {
      return guard.requests;
    },
    async counter(userId, window) {
      const item = await rawItem(userId, window);
      return item && { used: item.used, expiresAt: item.expiresAt };
    },
    unreachable() {
      const unreachable = unreachableDocumentClient();
      return {
        store: new DynamoTokenBudgetStore({ tableName: TABLE, documentClient: unreachable.doc }),
        close: unreachable.close,
      };
    },
  };
}

tokenBudgetSuite('TokenBudget over DynamoDB', dynamoHarness);

describe('DynamoTokenBudgetStore', () => {
  const f = useBudgetFixture(dynamoHarness());

  it('stores the counter under budget#<user>#<day> with a TTL two days after the window', async () => {
    const budget = f.newBudget();
    await budget.reserve(f.user, 'free', 10);
    const item = await guard.doc.send(new GetCommand({ TableName: TABLE, Key: { pk: `budget#${f.user}#2026-05-20` } }));
    expect(item.Item).toMatchObject({
      used: 10,
      userId: f.user,
      window: '2026-05-20',
      expiresAt: Date.UTC(2026, 4, 23) / 1000,
    });
  });
});
