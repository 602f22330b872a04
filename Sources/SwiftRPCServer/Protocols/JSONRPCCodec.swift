import NIOCore
import NIOHTTP1
import SwiftRPC

/// JSON-RPC 2.0 at `POST /jsonrpc`: single calls, batches and notifications, `params` by position
/// or by name. An MQ function's result is its job ticket; errors carry the native code in `data`.
enum JSONRPCCodec {
    static func respond(to body: ByteBuffer, dispatcher: Dispatcher, on eventLoop: any EventLoop) -> RPCReply {
        let document: JSONValue
        do {
            document = try body.parseJSON()
        } catch {
            return .now(answer(errorObject(code: -32700, message: "parse error: \(error)", id: .null)))
        }
        switch document {
        case .array(let requests) where requests.isEmpty:
            return .now(answer(errorObject(code: -32600, message: "invalid request: an empty batch", id: .null)))
        case .array(let requests):
            let answers = requests.map { call($0, dispatcher: dispatcher, on: eventLoop) }
            return Pending.all(answers, on: eventLoop).map { answers in
                let present = answers.compactMap { $0 }
                // A batch of notifications only gets no content at all.
                return present.isEmpty ? RPCResponse(status: .noContent, body: []) : answer(.array(present))
            }
        default:
            return call(document, dispatcher: dispatcher, on: eventLoop).map { $0.map(answer) ?? RPCResponse(status: .noContent, body: []) }
        }
    }

    /// One request object's answer, or `nil` for a notification.
    private static func call(_ request: JSONValue, dispatcher: Dispatcher, on eventLoop: any EventLoop) -> Pending<JSONValue?> {
        guard case .object(let fields) = request else {
            return .now(errorObject(code: -32600, message: "invalid request: each request is an object", id: .null))
        }
        let id = fields["id"]
        switch id {
        case nil, .string?, .int?, .double?, .null?: break
        default: return .now(errorObject(code: -32600, message: "invalid request: id must be a string, a number or null", id: .null))
        }
        guard fields["jsonrpc"] == .string("2.0") else {
            return .now(errorObject(code: -32600, message: "invalid request: \"jsonrpc\" must be \"2.0\"", id: id ?? .null))
        }
        guard case .string(let method)? = fields["method"] else {
            return .now(errorObject(code: -32600, message: "invalid request: \"method\" must be a string", id: id ?? .null))
        }
        var decoded = DecodedCall()
        if let params = fields["params"] {
            guard let byParams = DecodedCall(params: params) else {
                return .now(errorObject(code: -32600, message: "invalid request: \"params\" must be an array or an object", id: id ?? .null))
            }
            decoded = byParams
        }
        return dispatcher.call(named: method, decoded, on: eventLoop).map { outcome in
            guard let id else { return nil }  // a notification: run, never answered
            switch outcome.result {
            case .success(let value): return ["jsonrpc": "2.0", "result": value, "id": id]
            case .failure(let error): return errorObject(code: code(for: error), message: error.message, id: id, native: error.code.rawValue)
            }
        }
    }

    /// -32601 unknown method, -32602 bad params, -32000 the function threw; the rest of the
    /// native codes get -32001 and up, and every error names its native code in `data.code`.
    static func code(for error: RPCError) -> Int {
        switch error.code {
        case .unknownFunction: -32601
        case .invalidArguments: -32602
        case .badRequest: -32600
        case .functionError: -32000
        case .timeout: -32001
        case .unavailable: -32002
        default: -32603
        }
    }

    private static func errorObject(code: Int, message: String, id: JSONValue, native: String? = nil) -> JSONValue {
        var error: JSONObject = ["code": .int(code), "message": .string(message)]
        if let native { error["data"] = ["code": .string(native)] }
        return ["jsonrpc": "2.0", "error": .object(error), "id": id]
    }

    private static func answer(_ document: JSONValue) -> RPCResponse {
        .json(document)
    }
}
