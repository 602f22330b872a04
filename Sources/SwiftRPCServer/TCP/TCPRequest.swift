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

    static func decode(_ bytes: [UInt8]) throws(Failure) -> TCPRequest {
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw Failure(error: .badRequest("malformed JSON: \(error)"))
        }
        guard case .object(let fields) = document else {
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
        var request = TCPRequest(name: name, call: DecodedCall(), params: fields["params"] ?? .null, id: id)
        for (key, value) in fields {
            switch (key, value) {
            case ("in", _), ("id", _):
                continue
            case ("params", .array(let values)):
                request.call.positional = values.map(ArgumentValue.json)
            case ("params", .object(let keywords)):
                request.call.keywords = keywords.map { ($0.key, .json($0.value)) }
            case ("params", let single):
                request.call.positional = [.json(single)]
            case ("args", .array(let values)):
                request.call.positional = values.map(ArgumentValue.json)
            case ("args", _):
                throw failure("\"args\" must be an array")
            case ("kwargs", .object(let keywords)):
                request.call.keywords = keywords.map { ($0.key, .json($0.value)) }
            case ("kwargs", _):
                throw failure("\"kwargs\" must be an object")
            case ("options", .object(let options)):
                do {
                    request.call.options = try CallDecoder.decodeOptions(options)
                } catch {
                    throw Failure(error: error, name: name, id: id)
                }
            case ("options", _):
                throw failure("\"options\" must be an object")
            case ("wait", .int(let seconds)) where seconds >= 0:
                request.call.wait = min(Double(seconds), CallDecoder.maxWaitSeconds)
            case ("wait", .double(let seconds)) where seconds >= 0 && seconds.isFinite:
                request.call.wait = min(seconds, CallDecoder.maxWaitSeconds)
            case ("wait", _):
                throw failure("\"wait\" must be a number of seconds from 0 to 30")
            default:
                throw failure("unknown field \"\(key.prefix(64))\": use in, params (or args and kwargs), id, options and wait")
            }
        }
        return request
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
        var object: JSONObject = ["out": name.map(JSONValue.string) ?? .null, "error": error.jsonValue["error"] ?? .null]
        if let jobID { object["job_id"] = .string(jobID) }
        if let id { object["id"] = id }
        return encode(object)
    }

    static func outcome(_ outcome: CallOutcome, name: String, id: JSONValue?) -> [UInt8] {
        switch outcome {
        case .value(let value): result(value, name: name, id: id)
        case .job(let ticket): result(ticket.json, name: name, id: id)
        case .jobEnded(let jobID, .success(let value)): result(value, name: name, id: id, jobID: jobID)
        case .jobEnded(let jobID, .failure(let failure)): error(failure, name: name, id: id, jobID: jobID)
        case .failure(let failure): error(failure, name: name, id: id)
        }
    }

    private static func encode(_ object: JSONObject) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        JSONWriter.write(.object(object), into: &out)
        return out
    }
}
