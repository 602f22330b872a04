/// The declared type of a parameter. Values are checked against it before a function runs.
public enum ParameterType: String, Sendable {
    /// Any JSON value (swift_rpc's untyped parameters).
    case any
    /// Integers only: `2.0`, `"2"` and `true` are refused.
    case int
    /// Any JSON number; form strings must be finite numbers.
    case double
    case string
    case bool
    case array
    case object
}

/// One declared parameter: a name, a type, whether `null` is accepted, and an optional default.
public struct Parameter: Sendable {
    public var name: String
    public var type: ParameterType
    public var isOptional: Bool
    public var defaultValue: JSONValue?

    public init(_ name: String, _ type: ParameterType, optional: Bool = false, default defaultValue: JSONValue? = nil) {
        self.name = name
        self.type = type
        self.isOptional = optional
        self.defaultValue = defaultValue
    }

    public static func any(_ name: String, default value: JSONValue? = nil) -> Parameter {
        Parameter(name, .any, optional: true, default: value)
    }
    public static func int(_ name: String, default value: Int? = nil) -> Parameter {
        Parameter(name, .int, default: value.map(JSONValue.int))
    }
    public static func double(_ name: String, default value: Double? = nil) -> Parameter {
        Parameter(name, .double, default: value.map(JSONValue.double))
    }
    public static func string(_ name: String, default value: String? = nil) -> Parameter {
        Parameter(name, .string, default: value.map(JSONValue.string))
    }
    public static func bool(_ name: String, default value: Bool? = nil) -> Parameter {
        Parameter(name, .bool, default: value.map(JSONValue.bool))
    }
    public static func array(_ name: String) -> Parameter { Parameter(name, .array) }
    public static func object(_ name: String) -> Parameter { Parameter(name, .object) }

    /// The same parameter, also accepting `null`.
    public var optional: Parameter {
        var copy = self
        copy.isOptional = true
        return copy
    }

    /// Checks a JSON value against the declared type.
    func accepts(_ value: JSONValue) -> Bool {
        switch (type, value) {
        case (_, .null): return isOptional
        case (.any, _): return true
        case (.int, .int): return true
        case (.double, .int), (.double, .double): return true
        case (.string, .string): return true
        case (.bool, .bool): return true
        case (.array, .array): return true
        case (.object, .object): return true
        default: return false
        }
    }

    /// Converts a form or query string to the declared type; `nil` when it does not convert.
    func convert(text: String) -> JSONValue? {
        switch type {
        case .any, .string: return .string(text)
        case .int: return Int(text).map(JSONValue.int)
        case .double:
            guard let number = Double(text), number.isFinite else { return nil }
            return .double(number)
        case .bool:
            switch text {
            case "true", "1": return .bool(true)
            case "false", "0": return .bool(false)
            default: return nil
            }
        case .array, .object:
            guard let value = try? JSONParser.parse(text), accepts(value) else { return nil }
            return value
        }
    }

    var typeDescription: String {
        isOptional && type != .any ? "\(type.rawValue) or null" : type.rawValue
    }

    /// The entry of this parameter in `/functions`.
    var listing: JSONValue {
        var object: JSONObject = ["name": .string(name), "type": .string(type.rawValue)]
        if isOptional && type != .any { object["optional"] = .bool(true) }
        if let defaultValue { object["default"] = defaultValue }
        return .object(object)
    }
}
