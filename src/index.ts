export {
  type HttpErrorKind,
  HttpRequestError,
  type HttpRequestErrorDetails,
} from "./activities/http-request/activity-error.js";
export type { ActivityInput, FlowDefinition } from "./activities/index.js";
export {
  type ConnectivityResult,
  type ConnectivityValidator,
  createBasicAuthValidator,
} from "./connectors/connectivity.js";
export {
  AuthError,
  ConnectorError,
  type ConnectorErrorCode,
  ConnectorValidationError,
} from "./connectors/errors.js";
export {
  ConnectorFileStore,
  type ConnectorStore,
  type LoadedConnectors,
  MemoryConnectorStore,
} from "./connectors/file-store.js";
export { type RedisConnectionOptions, RedisUnavailableError } from "./connectors/redis/connection.js";
export { connectRedisFleet, type RedisFleet, type RedisFleetOptions } from "./connectors/redis/fleet.js";
export { TOKEN_KEY_ENV, TokenKeyError } from "./connectors/redis/sealing.js";
export { RedisSharedTokens } from "./connectors/redis/shared-tokens.js";
export { type ImportResult, RedisConnectorStore } from "./connectors/redis/store.js";
export {
  ConnectorCatalog,
  type ConnectorChange,
  type ConnectorChangeKind,
  type ConnectorChangeListener,
  ConnectorRegistry,
  type ConnectorRegistryOptions,
  type OperationOptions,
} from "./connectors/registry.js";
export { allowedMethods, isTokenExpired } from "./connectors/request-rules.js";
export {
  ADMIN_ROLES,
  type AdminRole,
  CONNECTOR_OPERATIONS,
  type ConnectorOperation,
  mayPerform,
} from "./connectors/roles.js";
export { CONNECTOR_LIMITS } from "./connectors/rules.js";
export {
  type CcaiConfig,
  CONNECTOR_TYPES,
  type Connector,
  type ConnectorInput,
  type ConnectorsFile,
  type ConnectorType,
  connectorSchema,
  connectorsFileSchema,
  type SecretValue,
} from "./connectors/schema.js";
export { maskConnector, maskSecret, resolveSecret, type SecretContext } from "./connectors/secrets.js";
export type { SharedTokenStore } from "./connectors/token-cache.js";
export { connectorEndpoints } from "./connectors/url-rules.js";
export { type RetryClock, realClock } from "./core/budget.js";
export type {
  Authorization,
  AuthorizeRequest,
  ConnectorHandle,
  ConnectorResolver,
  ConnectorStatus,
} from "./core/connector-seam.js";
export { FlowrunError, type Problem, ValidationError } from "./core/errors.js";
export { HTTP_METHODS, type HttpMethod, type HttpServices } from "./core/http-types.js";
export { JsonSourceError, readJsonFile } from "./core/json-source.js";
export { DEFAULT_LIMITS, LimitExceededError, type LimitName, type Limits } from "./core/limits.js";
export { REDACTED } from "./core/redact.js";
export { SecretScrubber } from "./core/scrubber.js";
export { InvalidRequestError, isLoopbackHost } from "./core/url-rules.js";
export type {
  ActivityDefinition,
  CompileContext,
  RunContext,
  StepResult,
  VariableDeclaration,
} from "./engine/activity.js";
export { defineActivity } from "./engine/activity.js";
export type {
  BlindTransferAction,
  CallAction,
  CallHandlers,
  DisconnectContactAction,
  MenuAction,
  PlayMessageAction,
  QueueContactAction,
} from "./engine/host.js";
export { scriptedHandlers } from "./engine/host.js";
export type { Contact, RunOptions } from "./engine/interpreter.js";
export {
  type CredentialState,
  type HttpTrace,
  /** @deprecated the same type as `HttpTrace` */
  type HttpTrace as HttpTraceDetails,
  httpTraceOf,
  type RunError,
  type RunReason,
  type RunResult,
  type RunStatus,
  type TraceEntry,
  type TraceEntryBase,
} from "./engine/result.js";
export type { EngineServices } from "./engine/services.js";
export { CoercionError, VARIABLE_TYPES, type VariableType } from "./engine/variables.js";
export { DEFAULT_MAX_RESPONSE_BYTES } from "./http/sender.js";
export type { CompiledFlow, CompileOptions, Engine, EngineOptions } from "./runtime/create-engine.js";
export { createEngine } from "./runtime/create-engine.js";
