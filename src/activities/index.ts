import type { z } from "zod";
import type { ActivityDefinition } from "../engine/activity.js";
import type { flowEnvelopeSchema } from "../engine/flow-schema.js";
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

const definitions = [
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
] as const;

/** Every activity type the engine knows, by its `type` tag. A new activity is one file plus one line here. */
export const builtinActivities = definitions as unknown as readonly ActivityDefinition<
  { type: string },
  unknown,
  unknown
>[];

/** One activity of a flow as its author writes it: the input of its type's schema (defaults not yet applied). */
export type ActivityInput = (typeof definitions)[number] extends infer Each
  ? Each extends ActivityDefinition<{ type: string }, unknown, unknown, infer Input>
    ? Input
    : never
  : never;

/**
 * A flow as a host builds it in code (the JSON of a `.flow.json` file, typed): the flow schema's input, with each
 * activity typed by its `type`. `engine.compile` still checks it, as it checks JSON.
 */
export type FlowDefinition = Omit<z.input<typeof flowEnvelopeSchema>, "activities"> & {
  activities: Record<string, ActivityInput>;
};
