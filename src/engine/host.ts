/**
 * Effects on the call. The engine never speaks to a phone network: it calls the host's handler for each effect
 * and records the effect in the run's `actions`. Every handler is optional; a missing one only records.
 */
export interface PlayMessageAction {
  type: "play-message";
  activity: string;
  prompt: string;
}
export interface MenuAction {
  type: "menu";
  activity: string;
  prompt: string;
  choices: string[];
  /** The caller's input as the handler returned it; null when there was none. */
  input: string | null;
}
export interface QueueContactAction {
  type: "queue-contact";
  activity: string;
  queue: string;
}
export interface BlindTransferAction {
  type: "blind-transfer";
  activity: string;
  destination: string;
}
export interface DisconnectContactAction {
  type: "disconnect-contact";
  activity: string;
}
export type CallAction =
  | PlayMessageAction
  | MenuAction
  | QueueContactAction
  | BlindTransferAction
  | DisconnectContactAction;

type MaybePromise<T> = T | Promise<T>;

export interface CallHandlers {
  playMessage?(action: PlayMessageAction, signal: AbortSignal | undefined): MaybePromise<void>;
  /** Returns the digits the caller entered, or null/undefined when the caller entered nothing. */
  menu?(
    action: Omit<MenuAction, "input">,
    signal: AbortSignal | undefined,
  ): MaybePromise<string | null | undefined>;
  /** Throwing takes the activity's `error` outcome. */
  queueContact?(action: QueueContactAction, signal: AbortSignal | undefined): MaybePromise<void>;
  blindTransfer?(action: BlindTransferAction, signal: AbortSignal | undefined): MaybePromise<void>;
  disconnectContact?(action: DisconnectContactAction, signal: AbortSignal | undefined): MaybePromise<void>;
}

/** Handlers that answer `menu` from a script of inputs, one per menu, in order; then no input. */
export function scriptedHandlers(menuInputs: readonly string[]): CallHandlers {
  let next = 0;
  return {
    menu: () => (next < menuInputs.length ? menuInputs[next++]! : null),
  };
}
