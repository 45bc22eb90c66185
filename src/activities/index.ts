import type { ActivityDefinition } from "../engine/activity.js";
import { blindTransfer } from "./blind-transfer.js";
import { caseActivity } from "./case.js";
import { condition } from "./condition.js";
import { disconnectContact } from "./disconnect-contact.js";
import { endFlow } from "./end-flow.js";
import { httpRequest } from "./http-request/definition.js";
import { menu } from "./menu.js";
import { parse } from "./parse.js";
import { playMessage } from "./play-message.js";
import { queueContact } from "./queue-contact.js";
import { setVariable } from "./set-variable.js";

/** Every activity type the engine knows, by its `type` tag. A new activity is one file plus one line here. */
export const builtinActivities: readonly ActivityDefinition<{ type: string }, unknown, unknown>[] = [
  httpRequest,
  setVariable,
  condition,
  caseActivity,
  parse,
  playMessage,
  menu,
  queueContact,
  blindTransfer,
  disconnectContact,
  endFlow,
] as unknown as readonly ActivityDefinition<{ type: string }, unknown, unknown>[];
