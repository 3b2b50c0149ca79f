/**
 * Stratus's Node.js runtime: an ordinary, dependency-free client of the Lambda Runtime API
 * (2018-06-01), started as `node /var/runtime/bootstrap.js` with the task root as cwd.
 *
 * To handlers it behaves as AWS's Node.js runtime (aws-lambda-nodejs-runtime-interface-client)
 * does: the same handler resolution and Runtime.* errors, the same `context` object, async and
 * callback styles (callbackWaitsForEmptyEventLoop included, through 'beforeExit' as AWS does it),
 * legacy context.succeed/fail/done, the same error bodies and console format, and
 * `awslambda.streamifyResponse` / `awslambda.HttpResponseStream` (the response streamed to the Runtime
 * API as the handler writes it).
 *
 * It speaks HTTP/1.1 over one keep-alive socket and sends a response together with the next
 * `/next` in one write (pipelining). The socket is unref'd while a handler runs, so that an empty
 * event loop still means "the handler's work is done", as it does on AWS.
 *
 * Failures end the process as AWS's runtime does: an init error (or an uncaught exception) is
 * posted to /init/error (or as the invocation's error), then exit 129; an unhandled rejection,
 * exit 128. Only the Node 24 deprecation warning for callback handlers is left out.
 */

'use strict';

const net = require('net');
const fs = require('fs');
const path = require('path');
const util = require('util');

const API_PREFIX = '/2018-06-01/runtime/';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';
const EMPTY = Buffer.alloc(0);

// ------------------------------------------------------------------------------------- errors
// Runtime errors carry the name `Runtime.<Class>`, set on the prototype as AWS's runtime does (so
// it is also the first word of their stack).
class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class MalformedStreamingHandler extends Error {}
class InvalidStreamingOperation extends Error {}
class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
for (const cls of [ImportModuleError, HandlerNotFound, MalformedHandlerName, UserCodeSyntaxError,
  MalformedStreamingHandler, InvalidStreamingOperation, NodeJsExit, UnhandledPromiseRejection]) {
  cls.prototype.name = `Runtime.${cls.name}`;
}

function isErrorLike(obj) {
  return obj && typeof obj.name === 'string' && obj.name && typeof obj.message === 'string' &&
    obj.message && typeof obj.stack === 'string' && obj.stack;
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

/** The body posted for an error: {errorType, errorMessage, trace}. */
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      return {
        errorType: error.name?.replaceAll('\x7F', '%7F'),
        errorMessage: error.message?.replaceAll('\x7F', '%7F'),
        trace: error.stack.replaceAll('\x7F', '%7F').split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_err) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

/** An Error's own (non-enumerable) name/message/code/stack, plus its enumerable properties. */
function withEnumerableProperties(_key, value) {
  if (value instanceof Error) {
    const ret = Object.assign({ errorType: value.name, errorMessage: value.message, code: value.code }, value);
    if (typeof value.stack === 'string') ret.stack = value.stack.split('\n');
    return ret;
  }
  return value;
}

/** How an error appears in the log text (always after a tab, for compatibility). */
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, withEnumerableProperties);
  } catch (_err) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

// ------------------------------------------------------------------------------------ logging
const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const TENANT_ID = Symbol.for('aws.lambda.runtime.tenantId');
const LEVELS = Object.freeze({
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
});
let logError = null; // (message, error) => void, set by patchConsole

function jsonErrorReplacer(_key, value) {
  if (value instanceof Error) {
    return Object.assign({
      errorType: value?.constructor?.name ?? 'UnknownError',
      errorMessage: value.message,
      stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
    }, value);
  }
  return value;
}

function formatJsonMessage(requestId, timestamp, level, tenantId, ...messageParams) {
  const result = { timestamp, level: level.name, requestId };
  if (tenantId !== undefined && tenantId !== null) result.tenantId = tenantId;
  if (messageParams.length === 1) {
    result.message = messageParams[0];
    try {
      return JSON.stringify(result, jsonErrorReplacer);
    } catch (_err) {
      result.message = util.format(result.message);
      return JSON.stringify(result);
    }
  }
  result.message = util.format(...messageParams);
  for (const param of messageParams) {
    if (param instanceof Error) {
      result.errorType = param?.constructor?.name ?? 'UnknownError';
      result.errorMessage = param.message;
      result.stackTrace = typeof param.stack === 'string' ? param.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(result);
}

function logText(level, message, ...params) {
  const line = `${new Date().toISOString()}\t${globalThis[REQUEST_ID]}\t${level.name}\t${util.format(message, ...params)}`;
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

function logJson(level, message, ...params) {
  const line = formatJsonMessage(globalThis[REQUEST_ID], new Date().toISOString(), level, globalThis[TENANT_ID],
    message, ...params);
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

/** console.* as AWS's runtime patches them: `<ISO time>\t<request id>\t<LEVEL>\t<message>` (or JSON). */
function patchConsole() {
  const json = process.env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';
  const log = json ? logJson : logText;
  const minimum = LEVELS[process.env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase()] ?? LEVELS.TRACE;
  const nop = () => {};
  const at = (level) => (level.priority >= minimum.priority ? (msg, ...params) => log(level, msg, ...params) : nop);
  console.trace = at(LEVELS.TRACE);
  console.debug = at(LEVELS.DEBUG);
  console.info = at(LEVELS.INFO);
  console.log = console.info;
  console.warn = at(LEVELS.WARN);
  console.error = at(LEVELS.ERROR);
  console.fatal = (msg, ...params) => log(LEVELS.FATAL, msg, ...params);
  logError = json
    ? (_message, err) => console.error(intoError(err))
    : (message, err) => console.error(message, toFormatted(intoError(err)));
}

// ----------------------------------------------------------------------- Runtime API client
/** A keep-alive HTTP/1.1 client on one socket; requests may be pipelined, answers come in order. */
class RuntimeClient {
  constructor(hostPort) {
    const colon = hostPort.lastIndexOf(':');
    this.hostPort = hostPort;
    this.host = hostPort.slice(0, colon);
    this.port = parseInt(hostPort.slice(colon + 1), 10);
    this.socket = null;
    this.pending = []; // {resolve, reject} per request sent and not yet answered, oldest first
    this.head = EMPTY; // bytes of a response head not yet complete
    this.current = null; // the response whose body is being read
  }

  _connect() {
    // Stratus also serves the Runtime API on a Unix socket, cheaper than TCP on loopback.
    const path = process.env._STRATUS_RUNTIME_API_SOCKET;
    const socket = path ? net.connect({ path }) : net.connect({ host: this.host, port: this.port });
    if (!path) socket.setNoDelay(true);
    socket.on('data', (chunk) => this._onData(chunk));
    socket.on('error', (err) => this._lost(socket, err));
    socket.on('close', () => this._lost(socket, new Error('The Runtime API closed the connection')));
    this.socket = socket;
    this.head = EMPTY;
    this.current = null;
  }

  _lost(socket, err) {
    if (this.socket !== socket) return;
    this.socket = null;
    const pending = this.pending;
    this.pending = [];
    for (const waiter of pending) waiter.reject(err);
  }

  _onData(chunk) {
    let data = chunk;
    for (;;) {
      if (this.current === null) {
        if (data.length === 0) return;
        const buffer = this.head.length ? Buffer.concat([this.head, data]) : data;
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) {
          this.head = buffer;
          return;
        }
        this.current = parseHead(buffer.latin1Slice(0, end));
        this.head = EMPTY;
        data = buffer.subarray(end + 4);
      }
      const response = this.current;
      const missing = response.length - response.received;
      if (data.length < missing) {
        if (data.length) {
          response.chunks.push(data);
          response.received += data.length;
        }
        return;
      }
      response.chunks.push(data.subarray(0, missing));
      data = data.subarray(missing);
      this.current = null;
      const waiter = this.pending.shift();
      // Idle between requests (a handler is running): don't keep the event loop alive.
      if (this.pending.length === 0 && this.socket) this.socket.unref();
      if (waiter) {
        const body = response.chunks.length === 1 ? response.chunks[0] : Buffer.concat(response.chunks);
        waiter.resolve({ status: response.status, headers: response.headers, body });
      }
    }
  }

  /** Write `count` requests at once (`parts`: strings and Buffers, in order); resolves to their
   * answers, in order. */
  _send(parts, count) {
    if (this.socket === null) this._connect();
    const answers = [];
    for (let i = 0; i < count; i++) {
      answers.push(new Promise((resolve, reject) => this.pending.push({ resolve, reject })));
    }
    const socket = this.socket;
    socket.ref();
    if (parts.length === 1) {
      socket.write(parts[0]);
    } else {
      socket.cork(); // one writev
      for (const part of parts) socket.write(part);
      socket.uncork();
    }
    return answers;
  }

  /** One request as parts to write: its head and body in one string, or head and Buffer body. */
  _encode(method, apiPath, body, headers) {
    let text = `${method} ${API_PREFIX}${apiPath} HTTP/1.1\r\nHost: ${this.hostPort}\r\n`;
    if (headers) {
      for (const name in headers) text += `${name}: ${headerValue(headers[name])}\r\n`;
    }
    if (body === undefined) return [text + '\r\n'];
    text += `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    return typeof body === 'string' ? [text + body] : [text, body];
  }

  async next() {
    const [answer] = this._send(this._encode('GET', 'invocation/next'), 1);
    return checkNext(await answer);
  }

  /** Post a response (or an error) and ask for the next invocation in the same write. */
  async postAndNext(requestId, outcome) {
    const request = outcome.error === undefined
      ? this._encode('POST', `invocation/${encodeURIComponent(requestId)}/response`, outcome.body,
        { 'Content-Type': outcome.contentType || 'application/json' })
      : this._encode('POST', `invocation/${encodeURIComponent(requestId)}/error`, outcome.body,
        { 'Content-Type': 'application/json', [ERROR_TYPE_HEADER]: outcome.errorType });
    // A refused post (e.g. 413 for a response over 6 MB) is the platform's to report, and the next
    // event is already asked for: carry on, as AWS's runtime does.
    const [posted, next] = this._send(joinParts(request, this._encode('GET', 'invocation/next')), 2);
    posted.catch(() => {});
    return checkNext(await next);
  }

  postError(requestId, body, errorType) {
    const [answer] = this._send(this._encode('POST', `invocation/${encodeURIComponent(requestId)}/error`, body,
      { 'Content-Type': 'application/json', [ERROR_TYPE_HEADER]: errorType }), 1);
    return answer;
  }

  postInitError(error) {
    const response = toRapidResponse(error);
    const [answer] = this._send(this._encode('POST', 'init/error', serialize(response),
      { 'Content-Type': 'application/json', [ERROR_TYPE_HEADER]: response.errorType }), 1);
    return answer;
  }
}

/** Parts of requests to send together, adjacent strings joined. */
function joinParts(first, second) {
  const last = first[first.length - 1];
  if (typeof last === 'string' && typeof second[0] === 'string') {
    return first.slice(0, -1).concat([last + second[0]], second.slice(1));
  }
  return first.concat(second);
}

function parseHead(text) {
  const lines = text.split('\r\n');
  const status = parseInt(lines[0].split(' ', 2)[1], 10);
  const headers = {};
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (colon > 0) headers[lines[i].slice(0, colon).trim().toLowerCase()] = lines[i].slice(colon + 1).trim();
  }
  const length = parseInt(headers['content-length'] || '0', 10) || 0;
  return { status, headers, length, received: 0, chunks: [] };
}

function checkNext(answer) {
  if (answer.status !== 200) {
    throw new Error(`Failed to get the next invocation: ${answer.status} ${answer.body.toString()}`);
  }
  return answer;
}

function headerValue(value) {
  return String(value).replace(/[^\x20-\x7e]/g, '');
}

function serialize(body) {
  return JSON.stringify(body === undefined ? null : body);
}

/** The header AWS's platform classifies an invocation error by: Runtime.X passes, else Unhandled. */
function errorTypeHeader(errorType) {
  return typeof errorType === 'string' && errorType.includes('.') ? errorType : 'Unhandled';
}

// ----------------------------------------------------------------------------- handler loading
const FUNCTION_EXPR = /^([^.]*)\.(.*)$/;

function hasFolderPackageJsonTypeModule(folder) {
  if (folder.endsWith('/node_modules')) return false;
  const packageJson = path.join(folder, '/package.json');
  if (fs.existsSync(packageJson)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(packageJson));
      if (pkg) return pkg.type === 'module';
    } catch (err) {
      console.warn(`${packageJson} cannot be read, it will be ignored for ES module detection purposes.`, err);
      return false;
    }
  }
  if (folder === '/') return false;
  return hasFolderPackageJsonTypeModule(path.resolve(folder, '..'));
}

function hasPackageJsonTypeModule(file) {
  const jsPath = file + '.js';
  return fs.existsSync(jsPath) ? hasFolderPackageJsonTypeModule(path.resolve(path.dirname(jsPath))) : false;
}

function tryRequireFile(file) {
  return fs.existsSync(file) ? require(file) : undefined;
}

async function tryImport(file) {
  if (!fs.existsSync(file)) return undefined;
  return import(require('url').pathToFileURL(file).href);
}

/** AWS's order: extensionless, .js (CommonJS unless package.json says module), .mjs, .cjs, then
 * Node's own resolution of the bare name from the task root (node_modules, NODE_PATH). */
async function tryRequire(appRoot, moduleRoot, moduleName) {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, moduleName);
  const extensionless = tryRequireFile(lambdaStylePath);
  if (extensionless) return extensionless;
  const isModule = hasPackageJsonTypeModule(lambdaStylePath);
  if (!isModule) {
    const loaded = tryRequireFile(lambdaStylePath + '.js');
    if (loaded) return loaded;
  }
  const loaded = (isModule && (await tryImport(lambdaStylePath + '.js'))) ||
    (await tryImport(lambdaStylePath + '.mjs')) ||
    tryRequireFile(lambdaStylePath + '.cjs');
  if (loaded) return loaded;
  return require(require.resolve(moduleName, { paths: [appRoot, moduleRoot] }));
}

async function loadUserApp(appRoot, moduleRoot, moduleName) {
  try {
    return await tryRequire(appRoot, moduleRoot, moduleName);
  } catch (err) {
    if (err instanceof SyntaxError) throw new UserCodeSyntaxError(err);
    if (err && err.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(err);
    throw err;
  }
}

function installGlobalAwsLambda() {
  const off = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (off === '1' || off === 'true') return;
  globalThis.awslambda = {
    streamifyResponse(handler, options) {
      handler[HANDLER_STREAMING] = STREAM_RESPONSE;
      if (typeof options?.highWaterMark === 'number') {
        handler[HANDLER_HIGHWATERMARK] = parseInt(options.highWaterMark, 10);
      }
      return handler;
    },
    HttpResponseStream,
  };
}

/**
 * The runtime's @aws-sdk clients sit in a node_modules folder above the task root (/node_modules when
 * namespaced), where import (ES modules ignore NODE_PATH) finds them after the function's own
 * node_modules and a layer's (shown at <parent of the task root>/node_modules). require() reaches both
 * through NODE_PATH instead, in AWS's order (layers, then the runtime's SDK): they are kept out of its
 * walk up the folders, which comes before NODE_PATH. Costs nothing until something is required.
 */
function keepRuntimeSdkAfterLayers(appRoot) {
  const Module = require('module');
  const hidden = new Set(['/node_modules', path.join(path.dirname(path.resolve(appRoot)), 'node_modules')]);
  const nodeModulePaths = Module._nodeModulePaths;
  Module._nodeModulePaths = (from) => nodeModulePaths(from).filter((folder) => !hidden.has(folder));
}

/** Resolve `_HANDLER` ("[dir/]module.fn[.nested]") to the user's function, or throw Runtime.*. */
async function loadHandler(appRoot, fullHandlerString) {
  if (fullHandlerString.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const handlerString = path.basename(fullHandlerString);
  const moduleRoot = fullHandlerString.substring(0, fullHandlerString.indexOf(handlerString));
  const match = handlerString.match(FUNCTION_EXPR);
  if (!match || match.length !== 3) throw new MalformedHandlerName('Bad handler');
  const [, moduleName, handlerPath] = match;

  installGlobalAwsLambda();
  const userApp = await loadUserApp(appRoot, moduleRoot, moduleName);
  const handler = handlerPath.split('.').reduce((nested, key) => nested && nested[key], userApp);
  if (!handler) throw new HandlerNotFound(`${fullHandlerString} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandlerString} is not a function`);
  return handler;
}

function handlerMetadata(handler) {
  const marker = handler[HANDLER_STREAMING];
  let streaming = false;
  if (marker !== undefined && marker !== null && marker !== false) {
    if (marker !== STREAM_RESPONSE) throw new MalformedStreamingHandler('Only response streaming is supported.');
    streaming = STREAM_RESPONSE;
  }
  let isAsync = false;
  try {
    isAsync = handler.constructor?.name === 'AsyncFunction';
  } catch (_err) {
    isAsync = false;
  }
  return { streaming, isAsync };
}

// ----------------------------------------------------------------------------------- context
function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

/** Add to `base` what AWS's runtime adds, in its order: environment data, then header data. */
function attachEnvironmentData(base, headers) {
  const traceId = headers['lambda-runtime-trace-id'];
  if (traceId) process.env._X_AMZN_TRACE_ID = traceId;
  else delete process.env._X_AMZN_TRACE_ID;
  const env = process.env;
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  return Object.assign(base, {
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
  }, {
    clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
    identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    tenantId: headers['lambda-runtime-aws-tenant-id'],
    getRemainingTimeInMillis() {
      return deadline - Date.now();
    },
  });
}

// ----------------------------------------------------------------------------- streaming
const RESPONSE_MODE_HEADER = 'Lambda-Runtime-Function-Response-Mode';
const ERROR_BODY_TRAILER = 'Lambda-Runtime-Function-Error-Body';
const DEFAULT_STREAM_CONTENT_TYPE = 'application/octet-stream';
const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
// What handlers may use of the response stream (AWS's runtime exposes this subset of a Writable).
const STREAM_METHODS = ['cork', 'destroy', 'end', 'uncork', 'write', 'addListener', 'emit', 'eventNames',
  'getMaxListeners', 'listenerCount', 'listeners', 'off', 'on', 'once', 'prependListener',
  'prependOnceListener', 'rawListeners', 'removeAllListeners', 'removeListener', 'setMaxListeners',
  'setContentType'];
const STREAM_SETTABLE = ['destroyed', 'writable', '_onBeforeFirstWrite'];
const STREAM_READ_ONLY = ['writableFinished', 'writableObjectMode', 'writableBuffer', 'writableEnded',
  'writableNeedDrain', 'writableHighWaterMark', 'writableCorked', 'writableLength'];
let streamAgent = null;

/**
 * The response stream of one invocation, as AWS's runtime makes it: a POST of `/response` in streaming
 * mode (chunked, `Lambda-Runtime-Function-Response-Mode: streaming`) on a connection of its own, each
 * write sent as it is made. The head leaves with the first write (or the end), so the content type can
 * be set until then. An error ends it with the trailers Lambda-Runtime-Function-Error-Type / -Body.
 * Returns {stream (what the handler gets), done (settles once the Runtime API answered), fail}.
 */
function createResponseStream(requestId, highWaterMark) {
  const http = require('http');
  if (streamAgent === null) streamAgent = new http.Agent({ keepAlive: true });
  const options = {
    method: 'POST',
    path: `${API_PREFIX}invocation/${encodeURIComponent(requestId)}/response`,
    headers: {
      [RESPONSE_MODE_HEADER]: 'streaming',
      Trailer: [ERROR_TYPE_HEADER, ERROR_BODY_TRAILER],
      'Content-Type': DEFAULT_STREAM_CONTENT_TYPE,
    },
    agent: streamAgent,
  };
  const socketPath = process.env._STRATUS_RUNTIME_API_SOCKET; // as the Runtime API client (see _connect)
  if (socketPath) options.socketPath = socketPath;
  else Object.assign(options, { host: client.host, port: client.port, setHost: true });
  if (highWaterMark) {
    // A connection of its own with the handler's highWaterMark, as streamifyResponse's option asks.
    options.agent = false;
    options.createConnection = (opts, onConnect) => net.createConnection({ ...opts, highWaterMark }, onConnect);
  }
  const req = http.request(options);
  const done = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('aborted', reject);
    });
    req.on('error', reject);
  });
  done.catch(() => {}); // a refused or broken stream is the platform's to report

  let written = false;
  const write = req.write.bind(req);
  req.setContentType = (contentType) => {
    if (written) throw new InvalidStreamingOperation('Cannot set content-type, too late.');
    req.setHeader('Content-Type', contentType);
  };
  req.write = (chunk, encoding, callback) => {
    if (typeof chunk !== 'string' && !Buffer.isBuffer(chunk) && chunk?.constructor !== Uint8Array) {
      chunk = JSON.stringify(chunk);
    }
    if (!written && typeof req._onBeforeFirstWrite === 'function') req._onBeforeFirstWrite((ch) => write(ch));
    written = true;
    return write(chunk, encoding, callback);
  };

  const stream = {};
  for (const name of STREAM_METHODS) stream[name] = req[name].bind(req);
  for (const name of STREAM_SETTABLE) {
    Object.defineProperty(stream, name, { get: () => req[name], set: (value) => { req[name] = value; } });
  }
  for (const name of STREAM_READ_ONLY) Object.defineProperty(stream, name, { get: () => req[name] });

  const fail = (error) => {
    const response = toRapidResponse(error);
    try {
      req.addTrailers({
        [ERROR_TYPE_HEADER]: headerValue(response.errorType),
        [ERROR_BODY_TRAILER]: Buffer.from(JSON.stringify(response)).toString('base64'),
      });
    } catch (_err) {
      // the response has ended already: nothing more can be said on it
    }
    req.end();
  };
  return { stream, done, fail };
}

class HttpResponseStream {
  /** The HTTP integration response (Function URLs): the JSON prelude (statusCode, headers, cookies)
   * and 8 NUL bytes before the first byte of the body, under AWS's content type for it. */
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
    const metadataPrelude = JSON.stringify(prelude);
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadataPrelude);
      write(new Uint8Array(8));
    };
    return underlyingStream;
  }
}

// -------------------------------------------------------------------------------- the runtime
const NO_OP = () => {};
let beforeExitListener = NO_OP;
let phase = 'init'; // 'init' | 'invoke' | 'exiting'
let current = null; // the invocation being handled: {id, answered}
let client = null;

/** Run one invocation; resolves to {body, contentType} or {error} once the handler has answered. */
function handleInvocation(handler, metadata, invocation) {
  const headers = invocation.headers;
  const id = headers['lambda-runtime-aws-request-id'];
  globalThis[REQUEST_ID] = id;
  globalThis[TENANT_ID] = headers['lambda-runtime-aws-tenant-id'];
  const state = { id, answered: false };
  current = state;

  return new Promise((resolve) => {
    const answer = (outcome) => {
      if (state.answered) return;
      state.answered = true;
      resolve(outcome);
    };
    const postError = (err) => {
      logError('Invoke Error', err);
      answer({ error: err });
    };
    if (metadata.streaming === STREAM_RESPONSE) {
      runStreaming(handler, invocation, answer);
      return;
    }

    let completed = false;
    const complete = (result) => {
      if (completed) {
        console.error('Invocation has already been reported as done. Cannot call complete more than once per invocation.');
        return;
      }
      completed = true;
      let body;
      try {
        body = serialize(result);
      } catch (_err) {
        postError(new Error('Unable to stringify response body'));
        return;
      }
      answer({ body });
    };

    let waitForEmptyEventLoop = true;
    const callback = (err, result) => {
      beforeExitListener = NO_OP;
      if (err !== undefined && err !== null) postError(err);
      else if (!waitForEmptyEventLoop) complete(result);
      else beforeExitListener = () => setImmediate(() => complete(result));
    };
    const done = (err, result) => {
      beforeExitListener = NO_OP;
      if (err !== undefined && err !== null) postError(err);
      else complete(result);
    };
    const succeed = (result) => done(null, result);
    const fail = (err) => (err === undefined || err === null ? done('handled') : done(err, null));

    // Only the first call of any of callback/succeed/fail/done counts.
    let finished = false;
    const once = (fn) => function () {
      if (!finished) {
        finished = true;
        fn.apply(null, arguments);
      }
    };
    const context = {
      get callbackWaitsForEmptyEventLoop() {
        return waitForEmptyEventLoop;
      },
      set callbackWaitsForEmptyEventLoop(value) {
        waitForEmptyEventLoop = value;
      },
      succeed: once(succeed),
      fail: once(fail),
      done: once(done),
    };
    const onceCallback = once(callback);

    // If the event loop empties before the handler answered: an async handler's promise never
    // settled (Runtime.NodeJsExit); a callback handler forgot its callback (null response).
    beforeExitListener = () => {
      completed = true;
      if (metadata.isAsync) {
        postError(new NodeJsExit());
      } else {
        answer({ body: 'null' });
      }
    };

    try {
      const event = JSON.parse(invocation.body.toString());
      const result = handler(event, attachEnvironmentData(context, headers), onceCallback);
      if (result && typeof result.then === 'function') {
        result.then(context.succeed, context.fail).catch(context.fail);
      }
    } catch (err) {
      onceCallback(err);
    }
  });
}

/**
 * A streamifyResponse handler: it writes to a response stream sent to the Runtime API as it goes
 * (createResponseStream); resolves once the Runtime API has the whole response ({streamed: true}).
 * As in AWS's runtime, its errors (a rejection, a non-async handler) end the stream with error trailers.
 */
function runStreaming(handler, invocation, answer) {
  const headers = invocation.headers;
  let waitForEmptyEventLoop = true;
  const { stream, done, fail } = createResponseStream(headers['lambda-runtime-aws-request-id'],
    handler[HANDLER_HIGHWATERMARK]);
  const finish = () => answer({ streamed: true });
  const failed = (err) => {
    beforeExitListener = NO_OP;
    logError('Invoke Error', err);
    fail(err);
    done.then(finish, finish);
  };
  beforeExitListener = () => failed(new NodeJsExit());
  (async () => {
    const event = JSON.parse(invocation.body.toString());
    const context = attachEnvironmentData({
      get callbackWaitsForEmptyEventLoop() {
        return waitForEmptyEventLoop;
      },
      set callbackWaitsForEmptyEventLoop(value) {
        waitForEmptyEventLoop = value;
      },
    }, headers);
    const pending = handler(event, stream, context);
    if (!pending || typeof pending.then !== 'function') {
      failed('Streaming does not support non-async handlers.');
      return;
    }
    const result = await pending;
    if (typeof result !== 'undefined') console.warn('Streaming handlers ignore return values.');
    await done.catch(() => {}); // the Runtime API answered (the stream has ended)
    beforeExitListener = NO_OP;
    if (waitForEmptyEventLoop) beforeExitListener = () => setImmediate(finish);
    else finish();
  })().catch(failed);
}

/** An uncaught exception or unhandled rejection: report it, then end the runtime as AWS's does. */
function fatal(error, exitCode) {
  if (phase === 'exiting') return;
  const wasPhase = phase;
  phase = 'exiting';
  const exit = () => process.exit(exitCode);
  let posted;
  try {
    if (wasPhase === 'init') {
      posted = client.postInitError(error);
    } else if (current && !current.answered) {
      current.answered = true;
      const response = toRapidResponse(error);
      posted = client.postError(current.id, serialize(response), errorTypeHeader(response.errorType));
    }
  } catch (_err) {
    posted = undefined;
  }
  if (posted) posted.then(exit, exit);
  else exit();
}

function toErrorOutcome(error) {
  const response = toRapidResponse(error);
  let body;
  try {
    body = serialize(response);
  } catch (_err) {
    body = serialize({ errorType: 'handled', errorMessage: 'Unable to stringify error' });
  }
  return { error, body, errorType: errorTypeHeader(response.errorType) };
}

// A pre-started runtime (Stratus's Node blank environments, sandbox/zygote.py): started before its function
// was known, in its sandbox already; it waits here, its own modules loaded, for the function's variables (one
// JSON message on the job socket at fd _STRATUS_JOB_FD); by then the function's code is mounted at /var/task.
function awaitAssignment() {
  const fd = parseInt(process.env._STRATUS_JOB_FD || '', 10);
  if (!(fd >= 0)) return;
  const buffer = Buffer.alloc(1 << 20);
  let length;
  for (;;) {
    try {
      length = fs.readSync(fd, buffer, 0, buffer.length, null);
      break;
    } catch (err) {
      if (err.code !== 'EINTR' && err.code !== 'EAGAIN') throw err;
    }
  }
  fs.closeSync(fd);
  if (length === 0) process.exit(0); // the server dropped this blank
  const job = JSON.parse(buffer.toString('utf8', 0, length));
  if (job.error) {
    process.stderr.write(`stratus: the environment could not be set up: ${job.error}\n`);
    process.exit(126);
  }
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, job.env);
  process.chdir(process.env.LAMBDA_TASK_ROOT || '/var/task');
  require('module')._initPaths(); // NODE_PATH, read at start-up by a spawned runtime
}

async function main() {
  awaitAssignment();
  patchConsole();
  client = new RuntimeClient(process.env.AWS_LAMBDA_RUNTIME_API);
  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    fatal(error, 129);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    fatal(error, 128);
  });
  process.on('beforeExit', () => beforeExitListener());

  // Init failures propagate as AWS's do: an uncaught exception, posted to /init/error, exit 129.
  const appRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  keepRuntimeSdkAfterLayers(appRoot);
  const handler = await loadHandler(appRoot, process.env._HANDLER || '');
  const metadata = handlerMetadata(handler);

  phase = 'invoke';
  let invocation = await client.next();
  for (;;) {
    let outcome = await handleInvocation(handler, metadata, invocation);
    beforeExitListener = NO_OP;
    if (outcome.streamed) {
      invocation = await client.next(); // the response went as a stream of its own
      continue;
    }
    if (outcome.error !== undefined) outcome = toErrorOutcome(outcome.error);
    invocation = await client.postAndNext(current.id, outcome);
  }
}

main().catch((error) => {
  if (phase === 'exiting') return; // already reporting a fatal error
  if (phase === 'invoke') {
    // The Runtime API itself failed (connection lost, unexpected answer): nothing to report to.
    process.stderr.write(`Unexpected Top Level Error: ${error && error.stack}\n`);
    phase = 'exiting';
    process.exit(1);
  }
  logError('Uncaught Exception', error);
  fatal(error, 129);
});
