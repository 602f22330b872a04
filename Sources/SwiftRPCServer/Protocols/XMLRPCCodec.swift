import NIOCore
import NIOHTTP1
import SwiftRPC

/// XML-RPC at `POST /RPC2`, with `system.listMethods`, `system.methodHelp`,
/// `system.methodSignature` and `system.multicall`. Values map to JSON both ways: `<nil/>` is
/// null, `dateTime.iso8601` arrives as its text, `base64` as the text it encodes (UTF-8).
/// Faults (SPEC §8): -32700 parse, -32601 unknown method, -32602 bad params, -32500 the
/// function failed (-32400 for `unavailable`, -32603 for anything else).
public enum XMLRPCCodec {
    static let systemMethods = ["system.listMethods", "system.methodHelp", "system.methodSignature", "system.multicall"]

    static func respond(to body: ByteBuffer, dispatcher: Dispatcher, on eventLoop: any EventLoop) -> RPCReply {
        let method: String
        let params: [JSONValue]
        do {
            (method, params) = try decodeCall(Array(body.readableBytesView))
        } catch {
            return .now(document(.failure(error)))
        }
        return call(method, params, dispatcher: dispatcher, on: eventLoop).map { document($0) }
    }

    /// A call's result, or the error that is its fault.
    private static func call(_ method: String, _ params: [JSONValue], dispatcher: Dispatcher, on eventLoop: any EventLoop) -> Pending<Result<JSONValue, RPCError>> {
        switch method {
        case "system.listMethods":
            return .now(.success(.array((dispatcher.functionNames + systemMethods).map(JSONValue.string))))
        case "system.methodHelp", "system.methodSignature":
            guard params.count == 1, case .string(let name) = params[0] else {
                return .now(.failure(.invalidArguments("\(method) takes one string, a method name")))
            }
            guard let target = dispatcher.target(named: name) else { return .now(.failure(.unknownFunction(String(name.prefix(128))))) }
            let parameters = dispatcher.parameters(of: target)
            if method == "system.methodHelp" {
                let list = parameters.map { "\($0.name): \(xmlType($0.type))" }.joined(separator: ", ")
                return .now(.success(.string("\(name)(\(list))")))
            }
            // The return type is not declared: XML-RPC's introspection calls that "undef".
            return .now(.success([.array([.string("undef")] + parameters.map { .string(xmlType($0.type)) })]))
        case "system.multicall":
            return multicall(params, dispatcher: dispatcher, on: eventLoop)
        default:
            let decoded = DecodedCall(positional: params.map(ArgumentValue.json))
            return dispatcher.call(named: method, decoded, on: eventLoop).map(\.result)
        }
    }

    /// `system.multicall([{"methodName", "params"}, ...])`: each answer is `[result]` or a fault struct.
    private static func multicall(_ params: [JSONValue], dispatcher: Dispatcher, on eventLoop: any EventLoop) -> Pending<Result<JSONValue, RPCError>> {
        guard params.count == 1, case .array(let calls) = params[0] else {
            return .now(.failure(.invalidArguments("system.multicall takes one array of {methodName, params} structs")))
        }
        let answers = calls.map { entry -> Pending<JSONValue> in
            guard case .object(let fields) = entry, case .string(let name)? = fields["methodName"] else {
                return .now(faultStruct(.invalidArguments("each multicall entry is a struct with a string methodName")))
            }
            guard name != "system.multicall" else { return .now(faultStruct(.invalidArguments("system.multicall cannot be nested"))) }
            let arguments: [JSONValue]
            switch fields["params"] {
            case nil: arguments = []
            case .array(let values)?: arguments = values
            default: return .now(faultStruct(.invalidArguments("params of a multicall entry must be an array")))
            }
            return call(name, arguments, dispatcher: dispatcher, on: eventLoop).map { result in
                switch result {
                case .success(let value): .array([value])
                case .failure(let error): faultStruct(error)
                }
            }
        }
        return Pending.all(answers, on: eventLoop).map { .success(.array($0)) }
    }

    static func faultCode(for error: RPCError) -> Int {
        switch error.code {
        case .badRequest: -32700
        case .unknownFunction: -32601
        case .invalidArguments: -32602
        case .functionError, .timeout: -32500
        case .unavailable: -32400
        default: -32603
        }
    }

    private static func faultStruct(_ error: RPCError) -> JSONValue {
        ["faultCode": .int(faultCode(for: error)), "faultString": .string(error.message)]
    }

    // MARK: - Decoding

    /// The method name and parameters of a `<methodCall>` document (public for Benchmarks/XMLBench).
    public static func decodeCall(_ body: [UInt8]) throws(RPCError) -> (method: String, params: [JSONValue]) {
        let root: XMLReader.Element
        do {
            root = try XMLReader.parse(body)
        } catch {
            throw .badRequest(error.description)
        }
        guard root.name == "methodCall", let methodName = root.child("methodName") else {
            throw .badRequest("expected <methodCall> with a <methodName>")
        }
        let method = methodName.text.trimmingXMLSpace
        var params: [JSONValue] = []
        for param in root.child("params")?.children ?? [] {
            guard param.name == "param", let value = param.child("value") else { throw .invalidArguments("each <param> holds one <value>") }
            params.append(try decodeValue(value))
        }
        return (method, params)
    }

    static func decodeValue(_ value: XMLReader.Element) throws(RPCError) -> JSONValue {
        guard let typed = value.children.first else { return .string(value.text) }  // untyped is a string
        let text = typed.text
        switch typed.name {
        case "int", "i4", "i8":
            guard let number = Int(text.trimmingXMLSpace) else { throw .invalidArguments("<\(typed.name)> holds no 64-bit integer: '\(text.prefix(32))'") }
            return .int(number)
        case "boolean":
            switch text.trimmingXMLSpace {
            case "1": return .bool(true)
            case "0": return .bool(false)
            default: throw .invalidArguments("<boolean> holds 0 or 1, not '\(text.prefix(32))'")
            }
        case "string":
            return .string(text)
        case "double":
            guard let number = Double(text.trimmingXMLSpace), number.isFinite else { throw .invalidArguments("<double> holds no finite number: '\(text.prefix(32))'") }
            return .double(number)
        case "dateTime.iso8601":
            return .string(text.trimmingXMLSpace)
        case "base64":
            let bytes = try BodyEncryption.base64Decoded(Array(text.utf8))
            guard let decoded = String(validating: bytes, as: UTF8.self) else { throw .invalidArguments("<base64> must encode UTF-8 text") }
            return .string(decoded)
        case "nil":
            return .null
        case "array":
            return .array(try (typed.child("data")?.children ?? []).map { (element) throws(RPCError) in try decodeValue(element) })
        case "struct":
            var object = JSONObject()
            for member in typed.children where member.name == "member" {
                guard let name = member.child("name"), let memberValue = member.child("value") else {
                    throw .invalidArguments("each <member> holds a <name> and a <value>")
                }
                object[name.text] = try decodeValue(memberValue)
            }
            return .object(object)
        default:
            throw .invalidArguments("<\(typed.name.prefix(32))> is not an XML-RPC type")
        }
    }

    // MARK: - Encoding

    private static func document(_ result: Result<JSONValue, RPCError>) -> RPCResponse {
        var out = Array(#"<?xml version="1.0"?><methodResponse>"#.utf8)
        switch result {
        case .success(let value):
            out += Array("<params><param>".utf8)
            encode(value, into: &out)
            out += Array("</param></params>".utf8)
        case .failure(let error):
            out += Array("<fault>".utf8)
            encode(faultStruct(error), into: &out)
            out += Array("</fault>".utf8)
        }
        out += Array("</methodResponse>".utf8)
        // A fault is still 200: XML-RPC clients read faults from the body.
        return RPCResponse(status: .ok, body: out, contentType: "text/xml")
    }

    static func encode(_ value: JSONValue, into out: inout [UInt8]) {
        out += Array("<value>".utf8)
        switch value {
        case .null:
            out += Array("<nil/>".utf8)
        case .bool(let flag):
            out += Array("<boolean>\(flag ? 1 : 0)</boolean>".utf8)
        case .int(let number):
            // XML-RPC's int is 32 bits; larger ones go as the common i8 extension.
            let tag = Int32(exactly: number) == nil ? "i8" : "int"
            out += Array("<\(tag)>\(number)</\(tag)>".utf8)
        case .double(let number):
            out += Array("<double>\(number)</double>".utf8)
        case .string(let text):
            out += Array("<string>".utf8)
            escape(text, into: &out)
            out += Array("</string>".utf8)
        case .array(let elements):
            out += Array("<array><data>".utf8)
            for element in elements { encode(element, into: &out) }
            out += Array("</data></array>".utf8)
        case .object(let object):
            out += Array("<struct>".utf8)
            for (key, member) in object {
                out += Array("<member><name>".utf8)
                escape(key, into: &out)
                out += Array("</name>".utf8)
                encode(member, into: &out)
                out += Array("</member>".utf8)
            }
            out += Array("</struct>".utf8)
        }
        out += Array("</value>".utf8)
    }

    private static func escape(_ text: String, into out: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "<"): out += Array("&lt;".utf8)
            case UInt8(ascii: ">"): out += Array("&gt;".utf8)
            case UInt8(ascii: "&"): out += Array("&amp;".utf8)
            case 0x0D: out += Array("&#13;".utf8)  // survives XML's line-end normalization
            default: out.append(byte)
            }
        }
    }

    /// XML-RPC's name for a declared parameter type.
    private static func xmlType(_ type: ParameterType) -> String {
        switch type {
        case .any: "undef"
        case .int: "int"
        case .double: "double"
        case .string: "string"
        case .bool: "boolean"
        case .array: "array"
        case .object: "struct"
        }
    }
}

extension String {
    /// Without XML whitespace at either end.
    var trimmingXMLSpace: String {
        let bytes = Array(utf8)
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
