import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import SwiftRPC

/// A client of a SwiftRPC front over HTTP.
///
/// ```swift
/// let client = RPCClient(baseURL: "http://127.0.0.1:8080")
/// let sum = try await client.call("add", 1, 2).value          // .int(3)
/// let job = try await client.call("test_mq", 2, 3)            // 202: job.jobID
/// let done = try await client.job(job.jobID!, wait: 10)        // the job JSON
/// ```
public struct RPCClient: Sendable {
    /// What the front answered to a call.
    public struct Answer: Sendable {
        public let status: Int
        public let body: JSONValue
        public let rawBody: [UInt8]

        /// `response` of a 200 answer.
        public var value: JSONValue? { body["response"] }
        /// The job id of an MQ call's answer.
        public var jobID: String? { body["job_id"]?.stringValue }
        /// `error` of an error answer.
        public var error: RPCError? {
            guard let code = body["error"]?["code"]?.stringValue.flatMap(RPCError.Code.init(rawValue:)) else { return nil }
            return RPCError(code, body["error"]?["message"]?.stringValue ?? "")
        }
        public var isSuccess: Bool { (200..<300).contains(status) }
    }

    public let baseURL: String
    let httpClient: HTTPClient
    let timeout: Duration

    public init(baseURL: String = "http://127.0.0.1:8080", httpClient: HTTPClient = .shared, timeout: Duration = .seconds(60)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.httpClient = httpClient
        self.timeout = timeout
    }

    /// Calls `function` with positional and keyword arguments (and, for MQ functions, job
    /// options and a `wait` in seconds).
    public func call(
        _ function: String, arguments: [JSONValue] = [], keywords: JSONObject = JSONObject(), options: JSONObject? = nil,
        wait: Double? = nil
    ) async throws -> Answer {
        var body: JSONObject = ["args": .array(arguments), "kwargs": .object(keywords)]
        if let options { body["options"] = .object(options) }
        let query = wait.map { "?wait=\($0)" } ?? ""
        return try await send(.POST, path: "/\(function)\(query)", body: .object(body))
    }

    /// `call("add", 1, 2)`
    public func call(_ function: String, _ arguments: JSONValue...) async throws -> Answer {
        try await call(function, arguments: arguments)
    }

    /// `GET /jobs/{id}`, waiting up to `wait` seconds for the job to end.
    public func job(_ id: String, wait: Double? = nil) async throws -> Answer {
        try await send(.GET, path: "/jobs/\(id)" + (wait.map { "?wait=\($0)" } ?? ""), body: nil)
    }

    private func send(_ method: HTTPMethod, path: String, body: JSONValue?) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body.jsonText))
        }
        let response = try await httpClient.execute(request, timeout: TimeAmount(timeout))
        let bytes = Array(buffer: try await response.body.collect(upTo: 64 * 1024 * 1024))
        return Answer(status: Int(response.status.code), body: (try? JSONParser.parse(bytes)) ?? .null, rawBody: bytes)
    }
}
