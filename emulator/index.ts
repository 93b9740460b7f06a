export { OsquerydEmulator, compareVersions, readLogRecords, type EmulatorOptions, type ReplayResult } from './manager';
export { checkExtensionFile, installExtension, launchExtension, type LaunchOptions } from './launcher';
