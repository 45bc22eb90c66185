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
export type {
  Authorization,
  AuthorizeRequest,
  ConnectorHandle,
  ConnectorResolver,
  ConnectorStatus,
  HttpMethod,
} from "./connectors/seam.js";
export { HTTP_METHODS } from "./connectors/seam.js";
export { maskConnector, maskSecret, resolveSecret, type SecretContext } from "./connectors/secrets.js";
export type { SharedTokenStore } from "./connectors/token-cache.js";
export { connectorEndpoints, isLoopbackHost } from "./connectors/url-rules.js";
export type {
  ActivityDefinition,
  CompileContext,
  RunContext,
  StepResult,
  VariableDeclaration,
} from "./engine/activity.js";
export { defineActivity } from "./engine/activity.js";
export type { CompiledFlow, CompileOptions, Engine, EngineOptions } from "./engine/engine.js";
export { createEngine } from "./engine/engine.js";
export { FlowrunError, type Problem, ValidationError } from "./engine/errors.js";
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
export { JsonSourceError, readJsonFile } from "./engine/json-source.js";
export type { RunError, RunReason, RunResult, RunStatus, TraceEntry } from "./engine/result.js";
export type { EngineServices } from "./engine/services.js";
export { CoercionError, VARIABLE_TYPES, type VariableType } from "./engine/variables.js";
export type { HttpErrorKind, HttpTraceDetails } from "./http/execute.js";
export { InvalidRequestError } from "./http/origin-guard.js";
export { REDACTED } from "./http/redact.js";
export { DEFAULT_MAX_RESPONSE_BYTES, type HttpServices } from "./http/transport.js";
