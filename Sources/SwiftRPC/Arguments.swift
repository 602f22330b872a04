/// An argument as it arrived: a JSON value, or text from a form or query string that is
/// converted to the declared type when it is bound.
public enum ArgumentValue: Sendable, Equatable {
    case json(JSONValue)
    case text(String)
}

/// The arguments of one call, bound to the declared parameters and checked.
/// Every declared parameter has a value (given or default) when the function runs.
public struct Arguments: Sendable {
    public let values: [String: JSONValue]
    /// The arguments as given (converted to their declared types), without defaults:
    /// what an MQ job stores as `args` and `kwargs`.
    public let positional: [JSONValue]
    public let keywords: JSONObject

    public init(_ values: [String: JSONValue], positional: [JSONValue] = [], keywords: JSONObject = JSONObject()) {
        self.values = values
        self.positional = positional
        self.keywords = keywords
    }

    public subscript(name: String) -> JSONValue {
        values[name] ?? .null
    }

    public func int(_ name: String) throws -> Int {
        guard case .int(let value) = self[name] else { throw mismatch(name, "an integer") }
        return value
    }

    public func double(_ name: String) throws -> Double {
        switch self[name] {
        case .double(let value): return value
        case .int(let value): return Double(value)
        default: throw mismatch(name, "a number")
        }
    }

    public func string(_ name: String) throws -> String {
        guard case .string(let value) = self[name] else { throw mismatch(name, "a string") }
        return value
    }

    public func bool(_ name: String) throws -> Bool {
        guard case .bool(let value) = self[name] else { throw mismatch(name, "a boolean") }
        return value
    }

    /// The string itself, or the JSON text of any other value.
    public func text(_ name: String) -> String { self[name].plainText }

    private func mismatch(_ name: String, _ expected: String) -> FunctionError {
        FunctionError("argument '\(name)' is not \(expected)")
    }

    /// Binds positional and keyword arguments to `parameters` as Python would: positionals
    /// fill parameters in order, keywords by name, defaults fill the rest. Any mismatch is an
    /// `invalid_arguments` error and nothing runs.
    public static func bind(
        positional: [ArgumentValue],
        keywords: [(String, ArgumentValue)],
        to parameters: [Parameter],
        function: String
    ) throws(RPCError) -> Arguments {
        guard positional.count <= parameters.count else {
            throw .invalidArguments(
                "\(function)() takes \(parameters.count) positional argument\(parameters.count == 1 ? "" : "s") but \(positional.count) were given")
        }
        var bound: [String: JSONValue] = [:]
        bound.reserveCapacity(parameters.count)
        var givenPositional: [JSONValue] = []
        var givenKeywords = JSONObject()
        for (parameter, value) in zip(parameters, positional) {
            let checked = try check(value, for: parameter, function: function)
            bound[parameter.name] = checked
            givenPositional.append(checked)
        }
        for (name, value) in keywords {
            guard let parameter = parameters.first(where: { $0.name == name }) else {
                throw .invalidArguments("\(function)() got an unexpected keyword argument '\(name)'")
            }
            guard bound[name] == nil else {
                throw .invalidArguments("\(function)() got multiple values for argument '\(name)'")
            }
            let checked = try check(value, for: parameter, function: function)
            bound[name] = checked
            givenKeywords[name] = checked
        }
        for parameter in parameters where bound[parameter.name] == nil {
            guard let defaultValue = parameter.defaultValue else {
                throw .invalidArguments("\(function)() missing required argument '\(parameter.name)'")
            }
            bound[parameter.name] = defaultValue
        }
        return Arguments(bound, positional: givenPositional, keywords: givenKeywords)
    }

    private static func check(_ value: ArgumentValue, for parameter: Parameter, function: String) throws(RPCError) -> JSONValue {
        switch value {
        case .json(let json):
            guard parameter.accepts(json) else {
                throw .invalidArguments(
                    "\(function)() argument '\(parameter.name)' must be \(parameter.typeDescription), got \(json.typeName)")
            }
            return json
        case .text(let text):
            guard let converted = parameter.convert(text: text) else {
                throw .invalidArguments(
                    "\(function)() argument '\(parameter.name)' must be \(parameter.typeDescription), got '\(text.prefix(64))'")
            }
            return converted
        }
    }
}

extension JSONValue {
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a non-integer number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
