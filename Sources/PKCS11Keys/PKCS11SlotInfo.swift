import CLibP11

/// A slot as libp11 enumerated it (`PKCS11_SLOT`, `PKCS11_get_slotid_from_slot`): a copy of its
/// facts, which owns nothing and keeps nothing alive.
public struct PKCS11SlotInfo: Sendable, Hashable {
  /// The slot's `CK_SLOT_ID`.
  public let id: UInt
  /// The slot's manufacturer (`CK_SLOT_INFO.manufacturerID`).
  public let manufacturer: String
  /// The slot's description (`CK_SLOT_INFO.slotDescription`).
  public let description: String
  /// Whether the slot's token can be removed (`CKF_REMOVABLE_DEVICE`).
  public let isRemovable: Bool
  /// The token in the slot, if any.
  public let token: PKCS11TokenInfo?

  init(_ slot: UnsafeMutablePointer<PKCS11_SLOT>) {
    id = unsafe UInt(PKCS11_get_slotid_from_slot(slot))
    manufacturer = unsafe slot.pointee.manufacturer.map { unsafe String(cString: $0) } ?? ""
    description = unsafe slot.pointee.description.map { unsafe String(cString: $0) } ?? ""
    isRemovable = unsafe slot.pointee.removable != 0
    token = unsafe slot.pointee.token.map { unsafe PKCS11TokenInfo($0.pointee) }
  }
}

/// A token's facts as libp11 read them when the slots were enumerated (`PKCS11_TOKEN`, from
/// `C_GetTokenInfo`).
public struct PKCS11TokenInfo: Sendable, Hashable {
  /// The token's flags (`CK_TOKEN_INFO.flags`) as libp11 exposes them.
  public struct Flags: OptionSet, Sendable, Hashable {
    /// The raw bits (ours, not `CKF_` values).
    public let rawValue: UInt32
    /// Makes flags from raw bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `CKF_TOKEN_INITIALIZED`.
    public static let initialized = Flags(rawValue: 1 << 0)
    /// `CKF_LOGIN_REQUIRED`: private objects need a login.
    public static let loginRequired = Flags(rawValue: 1 << 1)
    /// `CKF_PROTECTED_AUTHENTICATION_PATH`: the PIN is entered on the device itself.
    public static let protectedAuthenticationPath = Flags(rawValue: 1 << 2)
    /// `CKF_USER_PIN_INITIALIZED`.
    public static let userPINInitialized = Flags(rawValue: 1 << 3)
    /// `CKF_WRITE_PROTECTED`.
    public static let writeProtected = Flags(rawValue: 1 << 4)
    /// `CKF_RNG`: the token has a random number generator.
    public static let hasRandomNumberGenerator = Flags(rawValue: 1 << 5)
    /// `CKF_USER_PIN_COUNT_LOW`: a wrong user PIN was entered since the last right one.
    public static let userPINCountLow = Flags(rawValue: 1 << 6)
    /// `CKF_USER_PIN_FINAL_TRY`: one more wrong user PIN locks the token.
    public static let userPINFinalTry = Flags(rawValue: 1 << 7)
    /// `CKF_USER_PIN_LOCKED`.
    public static let userPINLocked = Flags(rawValue: 1 << 8)
    /// `CKF_USER_PIN_TO_BE_CHANGED`.
    public static let userPINToBeChanged = Flags(rawValue: 1 << 9)
    /// `CKF_SO_PIN_COUNT_LOW`.
    public static let soPINCountLow = Flags(rawValue: 1 << 10)
    /// `CKF_SO_PIN_FINAL_TRY`.
    public static let soPINFinalTry = Flags(rawValue: 1 << 11)
    /// `CKF_SO_PIN_LOCKED`.
    public static let soPINLocked = Flags(rawValue: 1 << 12)
    /// `CKF_SO_PIN_TO_BE_CHANGED`.
    public static let soPINToBeChanged = Flags(rawValue: 1 << 13)

    /// Each flag with its snake_case name, in this order, for output.
    public static let named: [(Flags, String)] = [
      (.initialized, "initialized"), (.loginRequired, "login_required"),
      (.protectedAuthenticationPath, "protected_authentication_path"),
      (.userPINInitialized, "user_pin_initialized"), (.writeProtected, "write_protected"),
      (.hasRandomNumberGenerator, "rng"), (.userPINCountLow, "user_pin_count_low"),
      (.userPINFinalTry, "user_pin_final_try"), (.userPINLocked, "user_pin_locked"),
      (.userPINToBeChanged, "user_pin_to_be_changed"), (.soPINCountLow, "so_pin_count_low"),
      (.soPINFinalTry, "so_pin_final_try"), (.soPINLocked, "so_pin_locked"),
      (.soPINToBeChanged, "so_pin_to_be_changed"),
    ]
  }

  /// The token's label (`CK_TOKEN_INFO.label`, trailing blanks removed).
  public let label: String
  /// The token's manufacturer (`CK_TOKEN_INFO.manufacturerID`).
  public let manufacturer: String
  /// The token's model (`CK_TOKEN_INFO.model`).
  public let model: String
  /// The token's serial number (`CK_TOKEN_INFO.serialNumber`).
  public let serialNumber: String
  /// The token's flags.
  public let flags: Flags

  init(_ token: PKCS11_TOKEN) {
    label = unsafe token.label.map { unsafe String(cString: $0) } ?? ""
    manufacturer = unsafe token.manufacturer.map { unsafe String(cString: $0) } ?? ""
    model = unsafe token.model.map { unsafe String(cString: $0) } ?? ""
    serialNumber = unsafe token.serialnr.map { unsafe String(cString: $0) } ?? ""
    var flags: Flags = []
    let pairs: [(UInt8, Flags)] = unsafe [
      (token.initialized, .initialized), (token.loginRequired, .loginRequired),
      (token.secureLogin, .protectedAuthenticationPath), (token.userPinSet, .userPINInitialized),
      (token.readOnly, .writeProtected), (token.hasRng, .hasRandomNumberGenerator),
      (token.userPinCountLow, .userPINCountLow), (token.userPinFinalTry, .userPINFinalTry),
      (token.userPinLocked, .userPINLocked), (token.userPinToBeChanged, .userPINToBeChanged),
      (token.soPinCountLow, .soPINCountLow), (token.soPinFinalTry, .soPINFinalTry),
      (token.soPinLocked, .soPINLocked), (token.soPinToBeChanged, .soPINToBeChanged),
    ]
    for (value, flag) in pairs where value != 0 { flags.insert(flag) }
    self.flags = flags
  }
}
