/// Per-call job options: the body's `"options"` object (SPEC §5).
public struct CallOptions: Sendable, Equatable {
    public var queue: String?
    /// Seconds before the job may run.
    public var delay: Double?
    /// A caller-chosen id; enqueueing an existing id returns that job (idempotency).
    public var jobID: String?

    public init(queue: String? = nil, delay: Double? = nil, jobID: String? = nil) {
        self.queue = queue
        self.delay = delay
        self.jobID = jobID
    }
}

/// One call as the client sent it, before it is bound to a function's parameters.
public struct DecodedCall: Sendable, Equatable {
    public var positional: [ArgumentValue]
    public var keywords: [(String, ArgumentValue)]
    public var options: CallOptions
    /// `?wait=SECONDS` from the query string, already clamped to 0...30.
    public var wait: Double?
    /// The caller's W3C `traceparent` header, when it sent a valid one.
    public var traceParent: TraceParent?

    public init(positional: [ArgumentValue] = [], keywords: [(String, ArgumentValue)] = [], options: CallOptions = CallOptions(), wait: Double? = nil) {
        self.positional = positional
        self.keywords = keywords
        self.options = options
        self.wait = wait
    }

    /// The `params` of JSON-RPC and of TCP frames: an array is positional, an object is
    /// keywords; `nil` for any other value (each protocol says what that means).
    public init?(params: JSONValue) {
        switch params {
        case .array(let values): self.init(positional: values.map(ArgumentValue.json))
        case .object(let keywords): self.init(keywords: keywords.map { ($0.key, .json($0.value)) })
        default: return nil
        }
    }

    public static func == (lhs: DecodedCall, rhs: DecodedCall) -> Bool {
        lhs.positional == rhs.positional && lhs.options == rhs.options && lhs.wait == rhs.wait
            && lhs.keywords.map(\.0) == rhs.keywords.map(\.0) && lhs.keywords.map(\.1) == rhs.keywords.map(\.1)
    }
}

/// Turns an HTTP request's body, Content-Type and query string into a `DecodedCall`
/// (SPEC §3 and §8 "Arguments"). Pure: no I/O, so it can be tested and fuzzed alone.
public enum CallDecoder {
    public static let maxWaitSeconds = 30.0

    public static func decode(contentType: String?, body: [UInt8], query: String?) throws(RPCError) -> DecodedCall {
        try body.withUnsafeBufferPointer { (bytes) throws(RPCError) in
            try decode(contentType: contentType, body: UnsafeRawBufferPointer(bytes), query: query)
        }
    }

    /// - Parameter bodyBytes: the body where it lies (a network buffer), read without a copy.
    public static func decode(contentType: String?, body bodyBytes: UnsafeRawBufferPointer, query: String?) throws(RPCError) -> DecodedCall {
        var queryFields = try query.map { (query) throws(RPCError) in try FormDecoder.decode(Substring(query)) } ?? []
        let wait = try takeWait(from: &queryFields)
        var call: DecodedCall
        switch BodyKind(contentType: contentType, body: bodyBytes) {
        case .empty:
            call = fieldsCall(queryFields)
        case .json(let value):
            call = try decode(json: value)
        case .form:
            guard let text = String(validating: bodyBytes, as: UTF8.self) else { throw .badRequest("the form body is not valid UTF-8") }
            call = fieldsCall(queryFields + (try FormDecoder.decode(Substring(text))))
        case .invalidJSON(let error):
            throw .badRequest("malformed JSON body: \(error)")
        case .unsupported(let type):
            throw .badRequest("unsupported Content-Type '\(type)': send application/json or a form")
        }
        call.wait = wait
        return call
    }

    private enum BodyKind {
        case empty
        case json(JSONValue)
        case form
        case invalidJSON(JSONParser.Error)
        case unsupported(String)

        init(contentType: String?, body: UnsafeRawBufferPointer) {
            guard !body.isEmpty else {
                self = .empty
                return
            }
            let mediaType = contentType.map(CallDecoder.mediaType) ?? ""
            switch mediaType {
            case "application/json":
                do { self = .json(try JSONParser.parse(body)) } catch { self = .invalidJSON(error) }
            case "", "text/plain", "application/x-www-form-urlencoded":
                // swift_rpc's clients often send no type, and `curl -d '{...}'` sends a form type:
                // a body that is a JSON object is JSON, anything else a form.
                if body.first == UInt8(ascii: "{"), let value = try? JSONParser.parse(body), case .object = value {
                    self = .json(value)
                } else {
                    self = .form
                }
            default:
                self = .unsupported(mediaType)
            }
        }
    }

    /// `wait` of a query string that carries nothing else (`GET /jobs/{id}?wait=5`).
    public static func wait(query: String?) throws(RPCError) -> Double? {
        var fields = try query.map { (query) throws(RPCError) in try FormDecoder.decode(Substring(query)) } ?? []
        return try takeWait(from: &fields)
    }

    /// `"Application/JSON; charset=utf-8"` → `"application/json"`; on the hot path, so bytes, not generic string algorithms.
    static func mediaType(_ contentType: String) -> String {
        if contentType == "application/json" { return contentType }  // what nearly every client sends
        var bytes = Array(contentType.utf8)
        if let semicolon = bytes.firstIndex(of: UInt8(ascii: ";")) { bytes.removeSubrange(semicolon...) }
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes.removeLast() }
        let start = bytes.firstIndex { $0 != 0x20 && $0 != 0x09 } ?? bytes.endIndex
        return String(decoding: bytes[start...].map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }, as: UTF8.self)
    }

    private static func takeWait(from fields: inout [(String, String)]) throws(RPCError) -> Double? {
        guard let index = fields.lastIndex(where: { $0.0 == "wait" }) else { return nil }
        let text = fields[index].1
        fields.removeAll { $0.0 == "wait" }
        guard let seconds = Double(text), !seconds.isNaN, seconds >= 0 else {
            throw .badRequest("wait must be a number of seconds from 0 to 30, got '\(text.prefix(32))'")
        }
        return min(seconds, maxWaitSeconds)
    }

    /// Form or query fields: each `args` is a positional argument, every other field a keyword.
    private static func fieldsCall(_ fields: [(String, String)]) -> DecodedCall {
        var call = DecodedCall()
        for (name, value) in fields {
            if name == "args" {
                call.positional.append(.text(value))
            } else {
                call.keywords.append((name, .text(value)))
            }
        }
        return call
    }

    /// A JSON body `{"args": [...], "kwargs": {...}, "options": {...}}`; any other key is a 400.
    public static func decode(json value: JSONValue) throws(RPCError) -> DecodedCall {
        guard case .object(let body) = value else { throw .badRequest("the JSON body must be an object {\"args\": [...], \"kwargs\": {...}}") }
        var call = DecodedCall()
        for (key, field) in body {
            switch (key, field) {
            case ("args", .array(let elements)):
                call.positional = elements.map(ArgumentValue.json)
            case ("args", .string(let text)):
                // swift_rpc: "args": "[1,2]" is that array; any other string is one argument.
                if let parsed = try? JSONParser.parse(text), case .array(let elements) = parsed {
                    call.positional = elements.map(ArgumentValue.json)
                } else {
                    call.positional = [.json(.string(text))]
                }
            case ("args", .null), ("kwargs", .null), ("options", .null):
                continue
            case ("args", _):
                throw .badRequest("\"args\" must be an array (or a string), got \(field.typeName)")
            case ("kwargs", .object(let keywords)):
                call.keywords = keywords.map { ($0.key, .json($0.value)) }
            case ("kwargs", _):
                throw .badRequest("\"kwargs\" must be an object, got \(field.typeName)")
            case ("options", .object(let options)):
                call.options = try decodeOptions(options)
            case ("options", _):
                throw .badRequest("\"options\" must be an object, got \(field.typeName)")
            default:
                throw .badRequest("unknown field \"\(key)\" in the body: use \"args\", \"kwargs\" and \"options\"")
            }
        }
        return call
    }

    public static func decodeOptions(_ object: JSONObject) throws(RPCError) -> CallOptions {
        var options = CallOptions()
        for (key, value) in object {
            switch (key, value) {
            case ("queue", .string(let name)) where JobNames.isValidQueueName(name):
                options.queue = name
            case ("queue", _):
                throw .badRequest("options.queue must be a queue name matching [A-Za-z0-9_.-]{1,64}")
            case ("job_id", .string(let id)) where JobNames.isValidJobID(id):
                options.jobID = id
            case ("job_id", _):
                throw .badRequest("options.job_id must match [A-Za-z0-9_-]{1,64}")
            case ("delay", .int(let seconds)) where seconds >= 0:
                options.delay = Double(seconds)
            case ("delay", .double(let seconds)) where seconds >= 0 && seconds.isFinite:
                options.delay = seconds
            case ("delay", _):
                throw .badRequest("options.delay must be a number of seconds >= 0")
            default:
                throw .badRequest("unknown option \"\(key)\": use \"queue\", \"delay\" or \"job_id\"")
            }
        }
        return options
    }
}

/// The shapes of job ids and queue names (SPEC §8), checked before either reaches a Redis key.
public enum JobNames {
    /// `[A-Za-z0-9_-]{1,64}`
    public static func isValidJobID(_ id: some StringProtocol) -> Bool {
        let bytes = id.utf8
        return (1...64).contains(bytes.count)
            && bytes.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// `[A-Za-z0-9_.-]{1,64}`
    public static func isValidQueueName(_ name: some StringProtocol) -> Bool {
        let bytes = name.utf8
        return (1...64).contains(bytes.count)
            && bytes.allSatisfy {
                $0.isASCIILetter || $0.isASCIIDigit || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
            }
    }
}
