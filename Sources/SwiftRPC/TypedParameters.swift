#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A Swift type a typed parameter can have: any `Decodable` that says which JSON type calls
/// must give for it. The checks of SPEC §8 (422 `invalid_arguments`) run on that JSON type
/// first, exactly as for untyped parameters; then the value is decoded.
///
/// Structs take a JSON object (the default: `extension Point: ParameterValue {}`), raw-value
/// enums take their raw value's type, optionals also take `null` and default to `nil`.
public protocol ParameterValue: Decodable, Sendable {
    /// The JSON type the parameter is declared with (`/functions` lists it).
    static var parameterType: ParameterType { get }
    /// `true` for `Optional`: `null` is accepted, and a missing argument is `nil`.
    static var isOptional: Bool { get }
    /// The value read straight from JSON the binder has already checked, or `nil` when it
    /// takes `Decodable` (structs, and anything that does not fit: the decoder then says why).
    /// Scalars, their arrays and optionals, and raw-value enums never reach the decoder, so
    /// typed inline calls cost no more than untyped ones.
    static func converting(_ json: JSONValue) -> Self?
}

extension ParameterValue {
    public static var parameterType: ParameterType { .object }
    public static var isOptional: Bool { false }
    public static func converting(_ json: JSONValue) -> Self? { nil }
}

extension ParameterValue where Self: RawRepresentable, RawValue: ParameterValue {
    public static var parameterType: ParameterType { RawValue.parameterType }
    public static func converting(_ json: JSONValue) -> Self? { RawValue.converting(json).flatMap(Self.init(rawValue:)) }
}

extension Int: ParameterValue {
    public static var parameterType: ParameterType { .int }
    public static func converting(_ json: JSONValue) -> Int? { json.intValue }
}
extension Double: ParameterValue {
    public static var parameterType: ParameterType { .double }
    public static func converting(_ json: JSONValue) -> Double? {
        switch json {
        case .double(let value): value
        case .int(let value): Double(value)
        default: nil
        }
    }
}
extension String: ParameterValue {
    public static var parameterType: ParameterType { .string }
    public static func converting(_ json: JSONValue) -> String? { json.stringValue }
}
extension Bool: ParameterValue {
    public static var parameterType: ParameterType { .bool }
    public static func converting(_ json: JSONValue) -> Bool? {
        if case .bool(let value) = json { return value }
        return nil
    }
}
extension JSONValue: ParameterValue {
    public static var parameterType: ParameterType { .any }
    public static func converting(_ json: JSONValue) -> JSONValue? { json }
}
extension Array: ParameterValue where Element: ParameterValue {
    public static var parameterType: ParameterType { .array }
    public static func converting(_ json: JSONValue) -> [Element]? {
        guard case .array(let values) = json else { return nil }
        var elements: [Element] = []
        elements.reserveCapacity(values.count)
        for value in values {
            guard let element = Element.converting(value) else { return nil }
            elements.append(element)
        }
        return elements
    }
}
extension Dictionary: ParameterValue where Key == String, Value: ParameterValue {}
extension Optional: ParameterValue where Wrapped: ParameterValue {
    public static var parameterType: ParameterType { Wrapped.parameterType }
    public static var isOptional: Bool { true }
    public static func converting(_ json: JSONValue) -> Wrapped?? {
        if json.isNull { return .some(nil) }
        return Wrapped.converting(json).map { .some($0) }
    }
}

/// One typed parameter: its name and Swift type, stated once; `default` is used when a call
/// leaves it out.
public struct Param<Value: ParameterValue>: Sendable {
    public let name: String
    @usableFromInline let defaultValue: JSONValue?

    public init(_ name: String) {
        self.name = name
        self.defaultValue = Value.isOptional ? .null : nil
    }

    public init(_ name: String, default value: Value) where Value: Encodable {
        self.name = name
        // A default that cannot be encoded is a programming error, found at registration.
        self.defaultValue = try! ResultEncoding.json(value)
    }

    /// The declaration the binder checks calls against.
    @inlinable var parameter: Parameter {
        Parameter(name, Value.parameterType, optional: Value.isOptional || Value.parameterType == .any, default: defaultValue)
    }

    /// This parameter's value in bound arguments; a value the binder let through but that does
    /// not decode (a struct missing a field, an enum's unknown raw value) is `invalid_arguments`.
    @inlinable func value(in arguments: Arguments, function: String) throws(RPCError) -> Value {
        let json = arguments[name]
        if let direct = Value.converting(json) { return direct }
        do {
            return try JSONDecoder().decode(Value.self, from: Data(json.jsonText.utf8))
        } catch {
            throw .invalidArguments("\(function)() argument '\(name)' is not a valid \(Value.self): \(Self.describe(error))")
        }
    }

    @usableFromInline static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: return "missing '\(key.stringValue)'"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?, .dataCorrupted(let context)?:
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default: return "\(error)"
        }
    }
}

extension JSONValue {
    /// Any `Encodable` as JSON (a typed function's result, a typed client's argument).
    public init<Value: Encodable>(encoding value: Value) throws {
        self = try ResultEncoding.json(value)
    }

    /// This JSON as a `Decodable` Swift value.
    public func decode<Value: Decodable>(as type: Value.Type = Value.self) throws -> Value {
        if let same = self as? Value { return same }
        return try JSONDecoder().decode(Value.self, from: Data(jsonText.utf8))
    }
}

/// Results of typed functions: any `Encodable`, as JSON.
@usableFromInline enum ResultEncoding {
    @inlinable static func json<Result: Encodable>(_ result: Result) throws -> JSONValue {
        if let representable = result as? any JSONRepresentable { return representable.jsonValue }
        let bytes = try JSONEncoder().encode(result)
        return try JSONParser.parse(Array(bytes))
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            let object = try container.decode([String: JSONValue].self)
            self = .object(JSONObject(object.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let values): try container.encode(values)
        case .object(let object): try container.encode(Dictionary(object.map { ($0.key, $0.value) }) { $1 })
        }
    }
}
