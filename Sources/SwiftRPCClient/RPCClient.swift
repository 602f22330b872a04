import AsyncHTTPClient
import Crypto
import NIOCore
import NIOHTTP1
import SwiftRPC

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A client of a SwiftRPC front over HTTP (AsyncHTTPClient: one pool of keep-alive
/// connections, HTTPS for `https://` URLs), or over the raw TCP port with the same call API
/// (`RPCClient(tcpHost:port:)`: one connection, requests pipelined on it).
///
/// ```swift
/// let client = RPCClient(baseURL: "http://127.0.0.1:8080", configuration: .init(token: "secret"))
/// let sum: Int = try await client.call("add", 1, 2)
/// let text = try await client.test("hi")                      // swift_rpc's proxy style: JSON
/// let job = try await client.enqueue("test_mq", 2, 3, as: Int.self)
/// let five = try await job.result(timeout: .seconds(10))       // waits with ?wait=, never polls
/// ```
@dynamicMemberLookup
public struct RPCClient: Sendable {
    public struct Configuration: Sendable {
        /// Sent as `Authorization: Bearer …`: a token or a JWT (SPEC §7).
        public var token: String?
        public var userAgent: String?
        /// How request bodies travel (`Encryption:` header, SPEC §7).
        public var encryption: Encryption?
        /// How long one request may take.
        public var timeout: Duration

        public init(token: String? = nil, userAgent: String? = nil, encryption: Encryption? = nil, timeout: Duration = .seconds(60)) {
            self.token = token
            self.userAgent = userAgent
            self.encryption = encryption
            self.timeout = timeout
        }
    }

    public enum Encryption: Sendable {
        /// The body as base64; answers come back plain.
        case base64
        /// AES-256-GCM with this 32-byte key; answers come back sealed and are opened here.
        case aesGCM(key: [UInt8])
    }

    /// What the front answered to a call.
    public struct Answer: Sendable {
        public let status: Int
        public let body: JSONValue
        public let rawBody: [UInt8]

        public init(status: Int, body: JSONValue, rawBody: [UInt8]) {
            self.status = status
            self.body = body
            self.rawBody = rawBody
        }

        /// A TCP answer `{"out", "result"}` or `{"out", "error"}` in the shape of the HTTP one.
        init(tcpAnswer: JSONValue) {
            var raw: [UInt8] = []
            JSONWriter.write(tcpAnswer, into: &raw)
            if let error = tcpAnswer["error"] {
                let status = error["code"]?.stringValue.flatMap(RPCError.Code.init(rawValue:))?.status ?? 500
                var body: JSONObject = ["error": error]
                if let jobID = tcpAnswer["job_id"] { body["job_id"] = jobID }
                self.init(status: status, body: .object(body), rawBody: raw)
            } else {
                var body: JSONObject = ["response": tcpAnswer["result"] ?? .null]
                if let jobID = tcpAnswer["job_id"] { body["job_id"] = jobID }
                self.init(status: 200, body: .object(body), rawBody: raw)
            }
        }

        /// `response` of a 200 answer.
        public var value: JSONValue? { body["response"] }
        /// The job id of an MQ call's answer.
        public var jobID: String? { body["job_id"]?.stringValue }
        public var isSuccess: Bool { (200..<300).contains(status) }

        /// The error of an error answer.
        public var error: RPCClientError? {
            guard !isSuccess else { return nil }
            let code = body["error"]?["code"]?.stringValue ?? "http_\(status)"
            return RPCClientError(code: code, message: body["error"]?["message"]?.stringValue ?? String(decoding: rawBody.prefix(200), as: UTF8.self), status: status, jobID: jobID)
        }
    }

    /// `http(s)://host:port`, or `tcp://host:port` for the TCP transport.
    public let baseURL: String
    public let configuration: Configuration
    let httpClient: HTTPClient
    private let tcp: TCPTransport?

    public init(baseURL: String = "http://127.0.0.1:8080", configuration: Configuration = Configuration(), httpClient: HTTPClient = .shared) {
        precondition(
            { if case .aesGCM(let key)? = configuration.encryption { return key.count == 32 } else { return true } }(), "the AES-GCM key is 32 bytes")
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.configuration = configuration
        self.httpClient = httpClient
        self.tcp = nil
    }

    /// A client of the front's raw TCP port (`serve --tcp-port`). The token, if any, is sent as
    /// the connection's first frame; `encryption` and `userAgent` are HTTP-only and not used.
    public init(tcpHost host: String, port: Int, configuration: Configuration = Configuration()) {
        self.baseURL = "tcp://\(host):\(port)"
        self.configuration = configuration
        self.httpClient = .shared
        self.tcp = TCPTransport(host: host, port: port, token: configuration.token, timeout: configuration.timeout)
    }

    /// Closes the TCP connection (HTTP connections belong to the `HTTPClient`).
    public func close() async {
        await tcp?.close()
    }

    // MARK: - Typed calls

    /// Calls an inline function and decodes its answer: `let sum: Int = try await client.call("add", 1, 2)`.
    /// Throws `RPCClientError` for an error answer, and for an MQ function (use `enqueue`).
    public func call<Result: Decodable>(
        _ function: String, _ arguments: any Encodable & Sendable..., keywords: [String: any Encodable & Sendable] = [:],
        as type: Result.Type = Result.self
    ) async throws -> Result {
        let answer = try await call(function, arguments: try Self.json(arguments), keywords: try Self.json(keywords))
        if let error = answer.error { throw error }
        guard answer.status == 200, let value = answer.value else {
            throw RPCClientError(code: "not_inline", message: "\(function) answered \(answer.status) (an MQ function? use enqueue)", status: answer.status, jobID: answer.jobID)
        }
        return try value.decode(as: Result.self)
    }

    /// Enqueues a call of an MQ function and returns a handle on its job.
    public func enqueue<Result: Decodable & Sendable>(
        _ function: String, _ arguments: any Encodable & Sendable..., keywords: [String: any Encodable & Sendable] = [:],
        options: JSONObject? = nil, as type: Result.Type = Result.self
    ) async throws -> JobHandle<Result> {
        let answer = try await call(function, arguments: try Self.json(arguments), keywords: try Self.json(keywords), options: options)
        if let error = answer.error { throw error }
        // Over TCP the job's ticket is the call's result.
        guard let id = answer.jobID ?? (tcp == nil ? nil : answer.value?["job_id"]?.stringValue) else {
            throw RPCClientError(code: "not_mq", message: "\(function) answered without a job id (not an MQ function?)", status: answer.status, jobID: nil)
        }
        return JobHandle(id: id, client: self)
    }

    /// swift_rpc's proxy style: `try await client.test_args("welcome", "x", name: "nima")`.
    public subscript(dynamicMember function: String) -> RemoteFunction {
        RemoteFunction(client: self, name: function)
    }

    // MARK: - Raw calls

    /// Calls `function` with positional and keyword arguments (and, for MQ functions, job
    /// options and a `wait` in seconds); the answer as it came.
    public func call(
        _ function: String, arguments: [JSONValue] = [], keywords: JSONObject = JSONObject(), options: JSONObject? = nil,
        wait: Double? = nil
    ) async throws -> Answer {
        if let tcp {
            var request: JSONObject = ["in": .string(function), "args": .array(arguments), "kwargs": .object(keywords)]
            if let options { request["options"] = .object(options) }
            if let wait { request["wait"] = .double(wait) }
            return Answer(tcpAnswer: try await tcp.roundTrip(.object(request)))
        }
        var body: JSONObject = ["args": .array(arguments), "kwargs": .object(keywords)]
        if let options { body["options"] = .object(options) }
        let query = wait.map { "?wait=\($0)" } ?? ""
        return try await send(.POST, path: "/\(function)\(query)", body: .object(body))
    }

    /// `GET /jobs/{id}`, waiting up to `wait` seconds for the job to end.
    public func job(_ id: String, wait: Double? = nil) async throws -> Answer {
        if let tcp {
            var request: JSONObject = ["in": "get_result", "args": [.string(id)]]
            if let wait { request["wait"] = .double(wait) }
            let answer = Answer(tcpAnswer: try await tcp.roundTrip(.object(request)))
            // As `GET /jobs/{id}` answers: the bare job JSON.
            return answer.isSuccess ? Answer(status: 200, body: answer.value ?? .null, rawBody: answer.rawBody) : answer
        }
        return try await send(.GET, path: "/jobs/\(id)" + (wait.map { "?wait=\($0)" } ?? ""), body: nil)
    }

    private func send(_ method: HTTPMethod, path: String, body: JSONValue?) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token = configuration.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let userAgent = configuration.userAgent { request.headers.replaceOrAdd(name: "User-Agent", value: userAgent) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            var bytes = Array(body.jsonText.utf8)
            switch configuration.encryption {
            case .base64?:
                request.headers.add(name: "Encryption", value: "base64")
                bytes = Array(Data(bytes).base64EncodedString().utf8)
            case .aesGCM(let key)?:
                request.headers.add(name: "Encryption", value: "aes-gcm")
                guard let sealed = try AES.GCM.seal(bytes, using: SymmetricKey(data: key)).combined else {
                    throw RPCClientError(code: "encryption", message: "cannot seal the body", status: 0, jobID: nil)
                }
                bytes = Array(sealed.base64EncodedString().utf8)
            case nil:
                break
            }
            request.body = .bytes(ByteBuffer(bytes: bytes))
        }
        let response = try await httpClient.execute(request, timeout: TimeAmount(configuration.timeout))
        var bytes = Array(buffer: try await response.body.collect(upTo: 64 * 1024 * 1024))
        // After a body it could decrypt, the front seals every answer; one it refused is plain.
        if case .aesGCM(let key)? = configuration.encryption, body != nil, let opened = Self.open(bytes, key: key) { bytes = opened }
        return Answer(status: Int(response.status.code), body: (try? JSONParser.parse(bytes)) ?? .null, rawBody: bytes)
    }

    private static func open(_ sealed: [UInt8], key: [UInt8]) -> [UInt8]? {
        guard let combined = Data(base64Encoded: Data(sealed)), let box = try? AES.GCM.SealedBox(combined: combined),
            let plain = try? AES.GCM.open(box, using: SymmetricKey(data: key))
        else { return nil }
        return Array(plain)
    }

    static func json(_ value: any Encodable & Sendable) throws -> JSONValue {
        try encode(value)
    }

    private static func encode<Value: Encodable>(_ value: Value) throws -> JSONValue {
        try JSONValue(encoding: value)
    }

    static func json(_ values: [any Encodable & Sendable]) throws -> [JSONValue] {
        try values.map(json)
    }

    static func json(_ values: [String: any Encodable & Sendable]) throws -> JSONObject {
        JSONObject(try values.sorted { $0.key < $1.key }.map { ($0.key, try json($0.value)) })
    }
}

/// One function of the front, called as a method (`client.test("hi")`); answers its JSON.
@dynamicCallable
public struct RemoteFunction: Sendable {
    let client: RPCClient
    let name: String

    public func dynamicallyCall(withArguments arguments: [any Encodable & Sendable]) async throws -> JSONValue {
        try await call(arguments.map { ("", $0) })
    }

    /// Unlabelled arguments are positional, labelled ones keywords. An MQ function answers
    /// its job (`{"job_id", "status", "queue"}`).
    public func dynamicallyCall(withKeywordArguments pairs: KeyValuePairs<String, any Encodable & Sendable>) async throws -> JSONValue {
        try await call(pairs.map { ($0.key, $0.value) })
    }

    private func call(_ pairs: [(label: String, value: any Encodable & Sendable)]) async throws -> JSONValue {
        var positional: [JSONValue] = []
        var keywords = JSONObject()
        for (label, value) in pairs {
            if label.isEmpty { positional.append(try RPCClient.json(value)) } else { keywords[label] = try RPCClient.json(value) }
        }
        let answer = try await client.call(name, arguments: positional, keywords: keywords)
        if let error = answer.error { throw error }
        return answer.value ?? answer.body
    }
}

/// A job enqueued by `enqueue`: its id, and its result once it ends.
public struct JobHandle<Result: Decodable & Sendable>: Sendable {
    public let id: String
    let client: RPCClient

    /// The job's result, waiting for it up to `timeout` with `GET /jobs/{id}?wait=` (the front
    /// holds each request until the job ends, so this never polls). Throws `RPCClientError`
    /// with the job's error when it failed, and `timeout` when it has not ended in time.
    public func result(timeout: Duration = .seconds(30)) async throws -> Result {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = max(0, (deadline - ContinuousClock.now).inSeconds)
            let answer = try await client.job(id, wait: min(left, CallDecoder.maxWaitSeconds))
            if let error = answer.error { throw error }
            switch answer.body["status"]?.stringValue {
            case "finished":
                return try (answer.body["result"] ?? .null).decode(as: Result.self)
            case "failed":
                throw RPCClientError(
                    code: answer.body["error"]?["code"]?.stringValue ?? "function_error",
                    message: answer.body["error"]?["message"]?.stringValue ?? "the job failed", status: answer.status, jobID: id)
            default:
                if ContinuousClock.now >= deadline {
                    throw RPCClientError(code: "timeout", message: "job \(id) is still \(answer.body["status"]?.stringValue ?? "pending")", status: answer.status, jobID: id)
                }
            }
        }
    }

    /// The job JSON as it is now.
    public func status() async throws -> JSONValue {
        let answer = try await client.job(id)
        if let error = answer.error { throw error }
        return answer.body
    }
}

/// An error answer, a failed job, or a call the client could not complete.
public struct RPCClientError: Error, Sendable, CustomStringConvertible {
    /// SPEC §3's code (`invalid_arguments`, `unauthorized`, …), a job's error code
    /// (`function_error`, `timeout`, `worker_lost`), or the client's own.
    public let code: String
    public let message: String
    /// The HTTP status (0 when no answer came).
    public let status: Int
    public let jobID: String?

    public var description: String { "\(code): \(message)" + (jobID.map { " (job \($0))" } ?? "") }
}
