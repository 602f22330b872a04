import NIOCore
import SwiftRPC

/// One request frame of SPEC §9: `{"in": "add", "params": [1, 2]}`, or `{"in", "args", "kwargs"}`,
/// with an optional `"id"` (echoed), `"options"` and `"wait"`.
struct TCPRequest: Sendable {
    var name: String
    var call: DecodedCall
    /// `params` as sent, for `ping`, which answers it back.
    var params: JSONValue
    var id: JSONValue?

    /// The name and id of a frame that failed to decode, for its error answer, when it had them.
    struct Failure: Error {
        var error: RPCError
        var name: String?
        var id: JSONValue?
    }

    private static let frameKeys = ["in", "id", "params", "wait"]

    static func decode(_ frame: ByteBuffer) throws(Failure) -> TCPRequest {
        let document: JSONValue
        do {
            document = try frame.parseJSON()
        } catch {
            throw Failure(error: .badRequest("malformed JSON: \(error)"))
        }
        guard case .object(var fields) = document else {
            throw Failure(error: .badRequest("a request is an object {\"in\": name, \"params\": [...]}"))
        }
        let id = fields["id"]
        let name = fields["in"]?.stringValue
        func failure(_ message: String) -> Failure { Failure(error: .badRequest(message), name: name, id: id) }
        switch id {
        case nil, .string?, .int?, .double?: break
        default: throw failure("\"id\" must be a string or a number")
        }
        guard let name else { throw failure("\"in\" must be the name of the function to call") }
        let params = fields["params"]
        let wait = fields["wait"]
        for key in Self.frameKeys { fields[key] = nil }
        // What is left is read as an HTTP body is: `args`, `kwargs` and `options`, nothing else.
        var call: DecodedCall
        do {
            call = try CallDecoder.decode(json: .object(fields))
        } catch {
            throw Failure(error: error, name: name, id: id)
        }
        if let params {
            // An array is positional, an object keywords, any other value one positional argument.
            let byParams = DecodedCall(params: params) ?? DecodedCall(positional: [.json(params)])
            call.positional = byParams.positional
            call.keywords = byParams.keywords
        }
        switch wait {
        case nil: break
        case .int(let seconds)? where seconds >= 0: call.wait = min(Double(seconds), CallDecoder.maxWaitSeconds)
        case .double(let seconds)? where seconds >= 0 && seconds.isFinite: call.wait = min(seconds, CallDecoder.maxWaitSeconds)
        default: throw failure("\"wait\" must be a number of seconds from 0 to 30")
        }
        return TCPRequest(name: name, call: call, params: params ?? .null, id: id)
    }
}

/// SPEC §9's answers: `{"out": name, "result": value}` or `{"out": name, "error": {code, message}}`, plus `"id"`.
enum TCPAnswer {
    static func result(_ value: JSONValue, name: String, id: JSONValue?, jobID: String? = nil) -> [UInt8] {
        var object: JSONObject = ["out": .string(name), "result": value]
        if let jobID { object["job_id"] = .string(jobID) }
        if let id { object["id"] = id }
        return encode(object)
    }

    static func error(_ error: RPCError, name: String?, id: JSONValue?, jobID: String? = nil) -> [UInt8] {
        var object: JSONObject = ["out": name.map(JSONValue.string) ?? .null, "error": error.errorObject]
        if let jobID { object["job_id"] = .string(jobID) }
        if let id { object["id"] = id }
        return encode(object)
    }

    static func outcome(_ outcome: CallOutcome, name: String, id: JSONValue?) -> [UInt8] {
        // A job waited for also names itself, as `?wait=` over HTTP does.
        let jobID: String? = if case .jobEnded(let id, _) = outcome { id } else { nil }
        switch outcome.result {
        case .success(let value): return result(value, name: name, id: id, jobID: jobID)
        case .failure(let failure): return error(failure, name: name, id: id, jobID: jobID)
        }
    }

    private static func encode(_ object: JSONObject) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        JSONWriter.write(.object(object), into: &out)
        return out
    }
}
